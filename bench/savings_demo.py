"""A demo run for the README's "What it saves": the gateway in front of the fake providers (tests/fakes, real
wire protocols, the real price table), a mixed workload — classified prompts from the held-out set under the
cost–quality dial, cache hits, a failover episode, a hedged route, feedback on some answers — and then
`switchboard costs LOG --savings` over its log. The fakes answer every prompt alike, so the figures show the
routing mix and the accounting, not answer quality; the feedback is scripted (strong answers rated a little
higher), and says so in the output.

    .venv/bin/python bench/savings_demo.py [--requests 300] [--html bench/results/savings.html]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.harness import free_port, wait_ready  # noqa: E402
from tests.fakes import AnthropicFake, CohereFake, OpenAIFake, Reply, VLLMFake  # noqa: E402

KEYS = {"OPENAI_API_KEY": "sk-demo-openai-0001", "ANTHROPIC_API_KEY": "sk-ant-demo-0002", "CO_API_KEY": "co-demo-0003"}
CONFIG = {
    "providers": {"local": {"embedded": False}},
    "routing": {"classifier": {"strong_share": 0.3}},
    "callers": {"anonymous_tier": "paid"},
    "routes": {"summarization": {"targets": ["cohere:command-a-03-2025", "anthropic:claude-haiku-4-5"],
                                 "hedge_after_s": 0.2}},
}


def prompts() -> list[str]:
    folder = ROOT / "training" / "data" / "heldout"
    texts = [line.split("\t", 2)[2] for path in sorted(folder.glob("*.tsv"))
             for line in path.read_text().splitlines() if line.count("\t") >= 2]
    random.Random(42).shuffle(texts)
    return texts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--html", type=Path, default=ROOT / "bench" / "results" / "savings.html")
    args = parser.parse_args()
    fakes = [OpenAIFake(KEYS["OPENAI_API_KEY"]), AnthropicFake(KEYS["ANTHROPIC_API_KEY"]),
             CohereFake(KEYS["CO_API_KEY"]), VLLMFake()]
    openai, anthropic, cohere, vllm = fakes
    for fake, words in ((openai, 120), (anthropic, 150), (cohere, 100), (vllm, 80)):
        fake.default = Reply(text=" ".join(["word"] * words), input_tokens=60, output_tokens=words * 2)
    folder = Path(tempfile.mkdtemp(prefix="switchboard-savings-"))
    config, log = folder / "config.yaml", folder / "requests.log"
    config.write_text(json.dumps(CONFIG))
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}, **KEYS,
           "OPENAI_BASE_URL": f"{openai.url}/v1", "ANTHROPIC_BASE_URL": anthropic.url, "CO_API_URL": cohere.url,
           "VLLM_BASE_URL": f"{vllm.url}/v1", "SWITCHBOARD_WORKERS": "1"}
    with log.open("w") as out:
        server = subprocess.Popen([sys.executable, "-m", "switchboard", "serve", "--port", str(port), "--config",
                                   str(config)], env=env, stdout=out, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    rated = random.Random(7)
    try:
        wait_ready(f"{base}/readyz")
        with httpx.Client(base_url=base, timeout=30) as client:
            texts = prompts()
            for n in range(args.requests):
                if n == args.requests // 3:
                    for _ in range(12):  # an OpenAI outage for a few requests: they fail over
                        openai.push(Reply(status=503))
                if n % 25 == 0:
                    cohere.push(Reply(text="slow draft", delay_s=0.6))  # the hedge's second target answers
                    body = {"text": f"Summarise: {texts[n % len(texts)]}", "task_type": "summarization"}
                elif n % 10 == 0:
                    body = {"text": texts[(n // 10) % 5], "temperature": 0}  # repeats: exact-cache hits
                else:
                    body = {"text": texts[n % len(texts)]}
                answer = client.post("/complete", json=body)
                if answer.status_code != 200 or rated.random() > 0.3:
                    continue
                strong = answer.json()["route"]["decision"].get("complexity") == "complex"
                up = rated.random() < (0.8 if strong else 0.7)
                client.post("/feedback", json={"request_id": answer.json()["id"], "thumbs": "up" if up else "down"})
        time.sleep(0.5)  # let the last lines reach the file before reading it (a demo, not a test)
    finally:
        server.terminate()
        server.wait(30)
        for fake in fakes:
            fake.close()
    args.html.parent.mkdir(parents=True, exist_ok=True)
    report = subprocess.run([sys.executable, "-m", "switchboard", "costs", str(log), "--savings", "--config",
                             str(config), "--html", str(args.html)], capture_output=True, text=True, env=env)
    print(report.stdout, end="")
    print(report.stderr, end="", file=sys.stderr)
    print(f"(a demo against the fake providers with the real price table; feedback scripted; log: {log})")


if __name__ == "__main__":
    main()
