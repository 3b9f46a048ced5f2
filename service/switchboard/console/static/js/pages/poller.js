// Runs a page's refresh now and then every `everyMs`, one at a time, until stopped.

export class Poller {
  constructor(refresh, everyMs) {
    this.refresh = refresh;
    this.everyMs = everyMs;
    this.timer = null;
    this.running = false;
  }

  start() {
    this.stop();
    this.running = true;
    this.tick();
  }

  async tick() {
    if (!this.running) return;
    try {
      await this.refresh();
    } catch (error) {
      console.warn("refresh failed", error);
    }
    if (this.running) this.timer = setTimeout(() => this.tick(), this.everyMs);
  }

  stop() {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
