"""Pushes three referrers of an image with the `oras` Python client: a signature, an SBOM and
an attestation, each an artifact whose subject is the image, tagged <TAG>-sig, -sbom, -att.

Usage: push_referrers.py HOST:PORT REPO TAG WORKDIR
Prints one line per referrer: `<artifact type> <tag>`. One annotation of each is hostile
markup, for the web view's escaping.
"""

import json
import os
import sys
import urllib.request

import oras.client
import oras.oci

MANIFEST_TYPES = ",".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])

KINDS = [
    ("sig", "application/vnd.dev.cosign.artifact.sig.v1+json", "signature.sig", "application/vnd.dev.cosign.simplesigning.v1+json"),
    ("sbom", "application/spdx+json", "sbom.spdx.json", "application/spdx+json"),
    ("att", "application/vnd.in-toto+json", "provenance.intoto.json", "application/vnd.in-toto+json"),
]


def main() -> int:
    host, repo, tag, workdir = sys.argv[1:5]
    request = urllib.request.Request(
        f"http://{host}/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES}
    )
    with urllib.request.urlopen(request) as response:
        body = response.read()
        subject = oras.oci.Subject(
            mediaType=response.headers["Content-Type"],
            digest=response.headers["Docker-Content-Digest"],
            size=len(body),
        )
    os.makedirs(workdir, exist_ok=True)
    os.chdir(workdir)
    client = oras.client.OrasClient(hostname=host, insecure=True)
    for suffix, artifact_type, name, layer_type in KINDS:
        with open(name, "w") as f:
            json.dump({"kind": suffix, "subject": subject.digest}, f)
        with open("config.json", "w") as f:
            f.write("{}")
        client.push(
            files=[f"{name}:{layer_type}"],
            target=f"{host}/{repo}:{tag}-{suffix}",
            manifest_config=f"config.json:{artifact_type}",
            manifest_annotations={
                "org.opencontainers.image.created": "2026-12-01T00:00:00Z",
                "e2e.note": "<script>alert('x')</script>\"onload=alert(1)",
            },
            subject=subject,
        )
        print(f"{artifact_type} {tag}-{suffix}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
