#!/usr/bin/env python3
"""tests/server/openai_client_test.py: `rwkv-run serve` through the official
`openai` Python client (installed for the tests only: scripts/test.sh makes a
virtual environment with it). Completions and chat, streamed and whole, stop
strings, the error classes the client raises for 400/401/404, and SIGTERM
with a stream in flight. Exits 77 (CTest: skipped) when `openai` is missing.

usage: openai_client_test.py RWKV_RUN DEFAULT_TESTDATA MODEL (relative to $RWKV_TESTDATA or DEFAULT_TESTDATA)
"""
import os
import signal
import subprocess
import sys
import threading

try:
    import openai
except ImportError:
    print("openai_client_test: the openai package is not installed (scripts/test.sh makes its venv); skipped")
    sys.exit(77)


def start_server(binary, model):
    proc = subprocess.Popen([binary, "serve", "-m", model, "--port", "0", "--slots", "4", "-t", "1",
                             "--device", "cpu", "--api-key", "k", "--shutdown-grace", "0.5"],
                            stderr=subprocess.PIPE, text=True)
    timer = threading.Timer(60, proc.kill)  # a server that never says where it listens fails the test
    timer.start()
    port = None
    for line in proc.stderr:
        if "listening on http://127.0.0.1:" in line:
            port = int(line.split("127.0.0.1:")[1].split()[0])
            break
    timer.cancel()
    assert port, "the server did not start"
    threading.Thread(target=lambda: proc.stderr.read(), daemon=True).start()
    return proc, port


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what)


def main():
    binary = sys.argv[1]
    model = os.path.join(os.environ.get("RWKV_TESTDATA") or sys.argv[2], sys.argv[3])
    proc, port = start_server(binary, model)
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", timeout=60, max_retries=0)
        model_id = client.models.list().data[0].id
        check(model_id == os.path.splitext(os.path.basename(model))[0], "models.list names the model")

        whole = client.completions.create(model=model_id, prompt="The sea is", max_tokens=16, seed=3)
        check(whole.usage.completion_tokens == 16 and whole.choices[0].finish_reason == "length",
              "completion: 16 tokens, finish_reason length")
        pieces = [c.choices[0].text for c in client.completions.create(
            model=model_id, prompt="The sea is", max_tokens=16, seed=3, stream=True) if c.choices]
        check("".join(pieces) == whole.choices[0].text, "streamed completion equals the whole one")

        chat = client.chat.completions.create(model=model_id, seed=5, max_tokens=24, stop=["a"],
                                              messages=[{"role": "system", "content": "Be brief."},
                                                        {"role": "user", "content": "Hello"}])
        text = chat.choices[0].message.content
        check("a" not in text and chat.choices[0].message.role == "assistant", "chat: stop string respected")
        streamed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model=model_id, seed=5, max_tokens=24, stop=["a"], stream=True,
            messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}])
            if c.choices)
        check(streamed == text, "streamed chat equals the whole one")

        for exc, kwargs, what in [
                (openai.BadRequestError, dict(model=model_id, prompt="x", temperature=5), "400 -> BadRequestError"),
                (openai.NotFoundError, dict(model="gpt-4", prompt="x"), "404 -> NotFoundError")]:
            try:
                client.completions.create(**kwargs)
                check(False, what)
            except exc:
                check(True, what)
        try:
            openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="wrong", max_retries=0).models.list()
            check(False, "401 -> AuthenticationError")
        except openai.AuthenticationError:
            check(True, "401 -> AuthenticationError")

        stream = client.completions.create(model=model_id, prompt="go", max_tokens=16000, stream=True)
        next(iter(stream))
        proc.send_signal(signal.SIGTERM)
        try:
            for _ in stream:
                pass
        except openai.APIError:
            pass  # the server's error event: shutting down
        check(proc.wait(timeout=30) == 0, "SIGTERM with a stream in flight: exit 0")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    main()
