#!/usr/bin/env bash
# Build the FaunaDB image (images/faunadb) from a release tarball the operator
# provides:
#
#   scripts/build-faunadb-image.sh RELEASE_TARBALL [IMAGE]
#
# RELEASE_TARBALL has one top folder (e.g. faunadb-25.02.07/) holding
# bin/faunadb and lib/faunadb.jar (bin/ and lib/ at its root are accepted too,
# with FAUNADB_VERSION set). IMAGE defaults to faunalab/faunadb:VERSION,
# VERSION being the top folder's name without "faunadb-". Environment:
#   EXTRA_PACKAGES   Debian packages to add (tests only), default none
#   FAUNADB_VERSION  overrides the version read from the top folder
#   BASE_IMAGE       default faunalab/debian:bookworm (built by `make setup`)
# Uses the engine `docker` answers to (DOCKER_HOST honoured) and no registry:
# the base image must already be there.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dockerfile="$here/images/faunadb/Dockerfile"
base=${BASE_IMAGE:-faunalab/debian:bookworm}
extra=${EXTRA_PACKAGES:-}

die() { echo "build-faunadb-image: $*" >&2; exit 2; }

release=${1:-}
image=${2:-}
[ -n "$release" ] || die "FAUNADB_RELEASE is not set: make image FAUNADB_RELEASE=path/to/faunadb-VERSION.tar.gz"
[ -f "$release" ] || die "FAUNADB_RELEASE=$release: no such file"

# One listing serves every check; tar reads plain, gzip, bzip2 and xz
# archives by content, as ADD does in the Dockerfile.
if ! listing=$(tar -tf "$release" 2>/dev/null); then
  die "FAUNADB_RELEASE=$release is not a tar archive (plain, .gz, .bz2 or .xz)"
fi
# Entries may be written as ./faunadb-X/...; ADD unpacks them to the same place.
listing=$(printf '%s\n' "$listing" | sed -e 's#^\./##' -e '/^\.\{0,1\}$/d')
if grep -Fqx bin/faunadb <<<"$listing"; then
  # No top folder (upstream's mktarball.sh packs ./bin and ./lib): nothing to
  # read the version from.
  top=. prefix=
  [ -n "${FAUNADB_VERSION:-}" ] \
    || die "FAUNADB_RELEASE=$release has no top folder (bin/ and lib/ at its root): set FAUNADB_VERSION"
else
  tops=$(printf '%s\n' "$listing" | cut -d/ -f1 | sort -u)
  [ -n "$tops" ] || die "FAUNADB_RELEASE=$release is an empty archive"
  if [ "$(printf '%s\n' "$tops" | wc -l)" -ne 1 ]; then
    die "FAUNADB_RELEASE=$release must hold one top folder (like faunadb-25.02.07/), found: $(echo $tops)"
  fi
  top=$tops prefix=$tops/
fi
for f in bin/faunadb lib/faunadb.jar; do
  grep -Fqx "$prefix$f" <<<"$listing" \
    || die "FAUNADB_RELEASE=$release is not a FaunaDB release: no $prefix$f"
done

version=${FAUNADB_VERSION:-${top#faunadb-}}
[[ $version =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$ ]] \
  || die "cannot use '$version' (from the top folder $top/) as a version; set FAUNADB_VERSION"
image=${image:-faunalab/faunadb:$version}

docker info >/dev/null 2>&1 \
  || die "no Docker engine answers (${DOCKER_HOST:-default socket}); make setup starts one"
docker image inspect "$base" >/dev/null 2>&1 \
  || die "base image $base is not on the engine; make setup builds it (no registry is used)"

sha=$(sha256sum "$release" | cut -d' ' -f1)

# A build context holding only the Dockerfile and the tarball. On exit it goes,
# and so does the unpack stage's image of this tarball (an untagged copy of
# the unpacked release that the legacy builder leaves; BuildKit leaves none).
ctx=$(mktemp -d "${TMPDIR:-/tmp}/faunadb-image.XXXXXX")
cleanup() {
  rm -rf "$ctx"
  local stale
  stale=$(docker images -q --filter dangling=true \
            --filter "label=org.faunalab.release-stage=$sha" 2>/dev/null || true)
  if [ -n "$stale" ]; then
    # shellcheck disable=SC2086 # one id per word
    docker rmi $stale >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
cp "$dockerfile" "$ctx/Dockerfile"
cp "$release" "$ctx/faunadb-release.tar"

echo "build-faunadb-image: $image from $release ($top/, version $version) on $base"
docker build --pull=false --rm --force-rm \
  --build-arg "BASE_IMAGE=$base" \
  --build-arg "EXTRA_PACKAGES=$extra" \
  --build-arg "FAUNADB_VERSION=$version" \
  --build-arg "FAUNADB_RELEASE_DIR=$top" \
  --build-arg "FAUNADB_RELEASE_SHA256=$sha" \
  --label "org.faunalab.release.file=$(basename "$release")" \
  --label "org.faunalab.release.sha256=$sha" \
  --tag "$image" \
  "$ctx"
echo "build-faunadb-image: built $image"
