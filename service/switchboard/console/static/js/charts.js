// Time-series charts with uPlot (vendored, see static/vendor/README.md). One chart per container; its data is
// replaced on each refresh, and it is rebuilt only when its set of series changes.

const PALETTE = ["#2856c7", "#d9480f", "#16794a", "#9c36b5", "#c2255c", "#0b7285", "#5c940d", "#e67700",
                 "#495057", "#1864ab"];

export class TimeChart {
  constructor(container, title, unit) {
    this.container = container;
    this.title = title;
    this.unit = unit;
    this.plot = null;
    this.names = null;
  }

  update(times, series) {
    const names = Object.keys(series);
    const data = [times, ...names.map((name) => series[name].map((v) => (v === null ? null : v)))];
    if (this.plot && this.names && this.names.join("\u0000") === names.join("\u0000")) {
      this.plot.setData(data);
      return;
    }
    if (this.plot) this.plot.destroy();
    this.container.replaceChildren();
    this.names = names;
    const width = Math.max(320, this.container.clientWidth - 16);
    const unit = this.unit;
    this.plot = new window.uPlot({
      title: this.title, width, height: 220,
      scales: {x: {time: true}},
      axes: [{}, {size: 70, values: (u, ticks) => ticks.map((t) => format(t, unit))}],
      series: [{}, ...names.map((name, i) => ({
        label: name, stroke: PALETTE[i % PALETTE.length], width: 2, spanGaps: false,
        points: {show: true, size: 4},
        value: (u, v) => (v === null || v === undefined ? "—" : format(v, unit)),
      }))],
    }, data, this.container);
    this.container.dataset.rendered = "true";
  }

  resize() {
    if (this.plot) this.plot.setSize({width: Math.max(320, this.container.clientWidth - 16), height: 220});
  }
}

function format(value, unit) {
  if (unit === "usd") return value < 0.01 && value > 0 ? `$${value.toPrecision(2)}` : `$${value.toFixed(2)}`;
  if (unit === "ms") return value >= 1000 ? `${(value / 1000).toFixed(1)}s` : `${Math.round(value)}ms`;
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}
