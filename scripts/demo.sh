#!/usr/bin/env bash
# The main job on the bundled example, on a fresh machine: installs what is needed, then
#  1. packages the machine's statically linked busybox as a signed apk and indexes it into a signed
#     local repository (examples/busybox/busybox.yaml),
#  2. builds the example image from it (examples/busybox/image.yaml) into an OCI layout, with its
#     lock file, signed (index, image and every attestation) with a cosign key pair made for the
#     demo, and rebuilds it from the lock to show the digest does not change,
#  3. verifies its signature and its SLSA provenance attestation with the public key, inspects
#     it, has skopeo read it, unpacks it with umoci and runs it with bwrap.
#  4. prints its SBOMs and provenance summary (attached as OCI referrers by the build);
#  5. builds the Debian examples (examples/debian) from the mirror this machine's apt sources
#     name: a distroless-static-like image and a shell image, which it runs.
# Output goes to out/demo (or the folder given as the first argument); it ends with a summary of
# what it made and the command to look at each. Set-up (scripts/setup.sh --demo) installs only
# what the demo runs, and links the `provenant` launcher onto PATH; the tests' tools come with
# scripts/test.sh.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
start=$PWD
out=$(realpath -m "${1:-out/demo}")
source "$root/scripts/setup.sh" --demo
cd "$root"
rm -rf "$out"
mkdir -p "$out"
cp examples/busybox/image.yaml examples/busybox/busybox.yaml "$out/"
cd "$out"
export SOURCE_DATE_EPOCH=1700000000
p() { echo "+ provenant $*" >&2; "$root/bin/provenant" "$@"; }
# The key, the package and the signed repository the example reads (as for a build in place).
bash "$root/examples/busybox/prepare.sh" "$out"
# A cosign key pair for the demo (release.key, encrypted with this password, and release.pub).
export COSIGN_PASSWORD=provenant-demo
p generate-key-pair --output-key-prefix release
p build image.yaml -o oci:layout:latest --write-lock image.lock.json --cache-dir cache --sign --key release.key
p build image.yaml -o oci:layout-from-lock:latest --lock image.lock.json --cache-dir cache
p verify oci:layout:latest --key release.pub
p verify-attestation oci:layout:latest --platform linux/amd64 --type slsaprovenance1 --key release.pub
p inspect oci:layout:latest
p sbom oci:layout:latest > sbom.spdx.json
p sbom oci:layout:latest --type cyclonedx > sbom.cdx.json
echo "SBOMs: sbom.spdx.json ($(grep -c '"SPDXID"' sbom.spdx.json) SPDX elements), sbom.cdx.json" >&2
p inspect oci:layout:latest --format json > inspect.json
node -e 'const fs=require("fs"); const j=require(process.argv[1]); const p=j.Provenance.SLSA; fs.writeFileSync(process.argv[2], JSON.stringify(p, null, 2) + "\n"); console.log("provenance:", p.buildDefinition.buildType, "builder", p.runDetails.builder.id, "-", p.buildDefinition.resolvedDependencies.length, "resolved dependencies")' "$out/inspect.json" "$out/provenance.json"
p digest oci:layout-from-lock:latest
echo "+ skopeo inspect --raw oci:layout:latest | sha256sum" >&2
skopeo inspect --raw oci:layout:latest | sha256sum
p copy -q --platform linux/amd64 oci:layout:latest oci:layout:amd64
echo "+ umoci raw unpack --rootless --image layout:amd64 rootfs" >&2
umoci raw unpack --rootless --image layout:amd64 rootfs >/dev/null
echo "+ bwrap (the image's entrypoint, as its user app)" >&2
bwrap --bind rootfs / --proc /proc --dev /dev --unshare-user --uid 1000 --gid 1000 /bin/sh -c "echo hello from a provenant image"

echo "+ Debian: examples/debian/prepare.sh debian (sources.yaml: the mirror from this machine's apt sources)" >&2
mkdir -p debian
cp "$root/examples/debian/static.yaml" "$root/examples/debian/shell.yaml" debian/
bash "$root/examples/debian/prepare.sh" debian
p build debian/static.yaml -o oci:debian/layout:static --cache-dir cache
p build debian/shell.yaml -o oci:debian/layout:shell --cache-dir cache
p sbom oci:debian/layout:static --type cyclonedx > debian/static.cdx.json
p copy -q --platform linux/amd64 oci:debian/layout:shell oci:debian/layout:shell-amd64
umoci raw unpack --rootless --image debian/layout:shell-amd64 debian/shell-rootfs >/dev/null
echo "+ bwrap (the Debian shell image's entrypoint)" >&2
bwrap --bind debian/shell-rootfs / --proc /proc --dev /dev /bin/sh -c "echo hello from a debian image"

# What the demo made, and the command to look at each: paths as seen from where the demo was
# started when the output is below it, else absolute.
rel() {
  local r
  r=$(realpath -m --relative-to="$start" "$out/$1")
  [[ $r == ../* ]] && r="$out/$1"
  echo "$r"
}
# A row: what, then its description from column 43; what is longer than that column has the
# description on the next line, at the same column, so every description starts in one place.
row() {
  if ((${#1} <= 40)); then
    printf '  %-40s %s\n' "$1" "$2"
  else
    printf '  %s\n  %-40s %s\n' "$1" '' "$2"
  fi
}
img=oci:$(rel layout:latest)
{
  echo
  echo "== The demo made, in $(rel .):"
  echo "images (OCI layouts; digest of each index):"
  for i in layout:latest layout-from-lock:latest debian/layout:static debian/layout:shell; do
    row "oci:$(rel "$i")" "$("$root/bin/provenant" digest "oci:$out/$i")"
  done
  echo "SBOMs and provenance of $img (also attached to it as OCI referrers):"
  row "$(rel sbom.spdx.json)" "SPDX 2.3"
  row "$(rel sbom.cdx.json)" "CycloneDX 1.6"
  row "$(rel provenance.json)" "SLSA provenance v1 (the predicate)"
  row "$(rel debian/static.cdx.json)" "CycloneDX 1.6 of oci:$(rel debian/layout:static)"
  echo "and the lock $(rel image.lock.json), the apk signing key $(rel keys/demo.rsa), the repository $(rel repo),"
  echo "the cosign key pair $(rel release.key) (password: provenant-demo) and $(rel release.pub) that signed $img"
  echo "look at them with:"
  row "provenant inspect $img" "platforms, and the signatures, SBOMs and provenance attached"
  row "provenant verify $img --key $(rel release.pub)" "the signatures, checked as cosign checks them"
  row "provenant sbom $img --type cyclonedx" "the attached SBOM"
  row "provenant inspect --format json $img" "with .Provenance and .SBOM, as buildx prints them"
  row "provenant copy $img docker-archive:image.tar" "then: docker load -i image.tar"
  row "provenant help" "every command ($(command -v provenant || echo "$root/bin/provenant"))"
}
