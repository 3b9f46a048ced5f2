"""The shared side-by-side method's upstream, copied unchanged from ../shared/bench/upstream.py (so `make bench`
runs the method the performance figures on file use, in this repository): a fake OpenAI upstream. ASGI app `app` (uvicorn) and RSGI app `rsgi_app` (granian).
Answers POST /v1/chat/completions with a fixed chat.completion JSON after UPSTREAM_DELAY_MS; the RSGI app answers
a `"stream": true` request with the same answer as OpenAI's server-sent chunks (written at once after the delay)."""
import asyncio
import os

DELAY = float(os.environ.get("UPSTREAM_DELAY_MS", "0")) / 1000.0
BODY = (
    b'{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion",'
    b'"created":1741569952,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,'
    b'"message":{"role":"assistant","content":"Hello! How can I help you today?","refusal":null,'
    b'"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":19,'
    b'"completion_tokens":9,"total_tokens":28,"prompt_tokens_details":{"cached_tokens":0,'
    b'"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,'
    b'"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default",'
    b'"system_fingerprint":"fp_06737a9306"}'
)
_CHUNK = ('{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,'
          '"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_06737a9306","choices":%s,"usage":%s}')
_PIECES = ["Hello!", " How", " can", " I", " help", " you", " today", "?"]
SSE = "".join(
    ["data: " + _CHUNK % ('[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]', "null") + "\n\n"]
    + ["data: " + _CHUNK % ('[{"index":0,"delta":{"content":%s},"logprobs":null,"finish_reason":null}]' % __import__("json").dumps(p), "null") + "\n\n" for p in _PIECES]
    + ["data: " + _CHUNK % ('[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]', "null") + "\n\n",
       "data: " + _CHUNK % ("[]", '{"prompt_tokens":19,"completion_tokens":9,"total_tokens":28}') + "\n\n",
       "data: [DONE]\n\n"]).encode()
NOT_FOUND = b'{"error":{"message":"not found","type":"invalid_request_error"}}'
_H = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
_H404 = [(b"content-type", b"application/json"), (b"content-length", str(len(NOT_FOUND)).encode())]


async def app(scope, receive, send):
    t = scope["type"]
    if t == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if t != "http":
        return
    more = True
    while more:  # drain request body
        msg = await receive()
        more = msg.get("more_body", False)
    if scope["method"] != "POST" or scope["path"] != "/v1/chat/completions":
        await send({"type": "http.response.start", "status": 404, "headers": _H404})
        await send({"type": "http.response.body", "body": NOT_FOUND})
        return
    if DELAY:
        await asyncio.sleep(DELAY)
    await send({"type": "http.response.start", "status": 200, "headers": _H})
    await send({"type": "http.response.body", "body": BODY})


class _RSGI:
    async def __rsgi__(self, scope, protocol):
        body = await protocol()  # read full body
        if scope.method != "POST" or scope.path != "/v1/chat/completions":
            protocol.response_bytes(404, [("content-type", "application/json")], NOT_FOUND)
            return
        if DELAY:
            await asyncio.sleep(DELAY)
        if b'"stream":true' in body or b'"stream": true' in body:
            protocol.response_bytes(200, [("content-type", "text/event-stream")], SSE)
        else:
            protocol.response_bytes(200, [("content-type", "application/json")], BODY)


rsgi_app = _RSGI()

if __name__ == "__main__":
    print(len(BODY))
