"""Pushes an artifact with the `oras` Python client and pulls it back, monolithic or chunked.

Usage: oras_roundtrip.py HOST:PORT REPO:TAG WORKDIR SIZE_BYTES [--chunked CHUNK_BYTES] [--basic USER]
                         [--pull-host HOST:PORT]
With --basic, the password is read from stdin and sent as Basic credentials.
With --pull-host, the artifact is pulled from that registry (a pull-through cache of HOST).
Exits non-zero (with a message) when the pulled bytes differ from the pushed ones.
"""

import hashlib
import os
import sys

import oras.client


def main() -> int:
    host, target, workdir, size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    chunked = "--chunked" in sys.argv
    chunk_size = int(sys.argv[sys.argv.index("--chunked") + 1]) if chunked else None

    os.makedirs(workdir, exist_ok=True)
    source = os.path.join(workdir, "artifact.bin")
    with open(source, "wb") as f:
        f.write(os.urandom(size))
    with open(source, "rb") as f:
        expected = hashlib.sha256(f.read()).hexdigest()

    if "--basic" in sys.argv:
        user = sys.argv[sys.argv.index("--basic") + 1]
        password = sys.stdin.readline().rstrip("\n")
        client = oras.client.OrasClient(hostname=host, insecure=True, auth_backend="basic")
        client.auth.set_basic_auth(user, password)
    else:
        client = oras.client.OrasClient(hostname=host, insecure=True)
    os.chdir(workdir)
    if chunked:
        client.push(files=["artifact.bin"], target=f"{host}/{target}", do_chunked=True, chunk_size=chunk_size)
    else:
        client.push(files=["artifact.bin"], target=f"{host}/{target}")

    outdir = os.path.join(workdir, "pulled")
    pull_host = sys.argv[sys.argv.index("--pull-host") + 1] if "--pull-host" in sys.argv else host
    if pull_host != host:
        client = oras.client.OrasClient(hostname=pull_host, insecure=True)
    pulled = client.pull(target=f"{pull_host}/{target}", outdir=outdir)
    if not pulled:
        print("oras pulled nothing", file=sys.stderr)
        return 1
    with open(pulled[0], "rb") as f:
        actual = hashlib.sha256(f.read()).hexdigest()
    if actual != expected:
        print(f"pulled sha256 {actual} != pushed {expected}", file=sys.stderr)
        return 1
    print(f"oras {'chunked' if chunked else 'monolithic'} round trip of {size} bytes: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
