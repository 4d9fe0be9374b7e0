#!/usr/bin/env bash
# Builds the microVM guest image (docs/guest-image.md) from Debian's packages:
# Debian's kernel as an uncompressed ELF, and an initramfs holding the guest
# agent as /init, busybox, python3, curl and the virtio modules.
#
#   scripts/build-image.sh --guest AGENT --out DIR [--cache DIR] [--quiet]
#
# Finished images are cached under a hash of everything that goes into them,
# so a second run with the same inputs only links the cached files into DIR.
set -euo pipefail
umask 022
# ldd must resolve the libraries the guest's loader will find, not a
# developer's overrides.
unset LD_LIBRARY_PATH LD_PRELOAD

self=$(readlink -f "${BASH_SOURCE[0]}")
guest='' out='' quiet=0
cache=${TOOLGATE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/toolgate}

die() { echo "image: $*" >&2; exit 1; }
say() { ((quiet)) || echo "image: $*" >&2; }
usage() { die "usage: build-image.sh --guest AGENT --out DIR [--cache DIR] [--quiet]"; }
sha256() { sha256sum "$1" | cut -d' ' -f1; }
pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || die "package $1 is not installed (run scripts/setup.sh)"; }

while (($#)); do
  case $1 in
    --guest | --out | --cache)
      (($# >= 2)) || usage
      case $1 in --guest) guest=$2 ;; --out) out=$2 ;; --cache) cache=$2 ;; esac
      shift 2 ;;
    --quiet) quiet=1; shift ;;
    *) usage ;;
  esac
done
{ [ -n "$guest" ] && [ -n "$out" ]; } || usage
[ -f "$guest" ] || die "guest agent $guest does not exist"
[ "$(dpkg --print-architecture)" = amd64 ] || die "the guest image is x86-64 only; this host is $(dpkg --print-architecture)"

# The output directory is replaced as a whole, so it must hold nothing but a
# previous image.
if [ -e "$out" ]; then
  [ -d "$out" ] || die "$out is not a directory"
  for f in "$out"/* "$out"/.[!.]*; do
    [ -e "$f" ] || continue
    case ${f##*/} in vmlinux | initramfs.cpio | image.json) ;;
      *) die "refusing to replace $out: it holds ${f##*/}, which this script did not write" ;;
    esac
  done
fi

# Kernel: the ABI package that Debian's metapackage points at today. Its
# Depends pins the exact version, so one apt-cache run is enough (each run
# reads all of apt's lists on hosts that keep no apt cache: a second).
read -r kpkg kver < <(apt-cache show --no-all-versions linux-image-amd64 2>/dev/null |
  sed -nE 's/^Depends: (linux-image-[0-9][^ ,]*) \(= ([^)]+)\).*/\1 \2/p') || true
[ -n "${kver-}" ] || die "apt knows no linux-image-amd64 that pins its kernel package (run apt-get update)"
abi=${kpkg#linux-image-}

# Python: Debian's interpreter (not whichever python3 is first on PATH), its
# standard library as Debian's packages list it, minus what no worker needs.
# sitecustomize.py is a link to /etc, where Debian hooks in apport; the image
# has neither, and a dangling link makes every interpreter start warn.
pybin=$(readlink -f /usr/bin/python3)
pyver=${pybin##*/python}
[[ $pyver =~ ^3\.[0-9]+$ ]] || die "/usr/bin/python3 resolves to $pybin, not a python3.X"
pypkgs=("python$pyver-minimal" "libpython$pyver-minimal" "libpython$pyver-stdlib")
pylib=/usr/lib/python$pyver
pyvers=()
for p in "${pypkgs[@]}"; do pyvers+=("$p $(pkgver "$p")"); done
mapfile -t pyfiles < <(
  dpkg -L "${pypkgs[@]}" |
    grep -E "^$pylib/" |
    grep -vE "^$pylib/(test|idlelib|tkinter|turtledemo|ensurepip|lib2to3/tests|site-packages|dist-packages)(/|$)" |
    grep -vE "^$pylib/sitecustomize\.py$|^$pylib/lib-dynload/(_test|_ctypes_test|_xxtestfuzz|xxlimited)" |
    LC_ALL=C sort -u)
((${#pyfiles[@]})) || die "dpkg lists no files for ${pypkgs[*]}"
mapfile -t dynload < <(printf '%s\n' "${pyfiles[@]}" | grep -E "^$pylib/lib-dynload/.*\.so$")

# curl, for sh workers' HTTP requests through the egress proxy: Debian's
# binary, with its libraries gathered below like python's.
curlbin=/usr/bin/curl
[ -x "$curlbin" ] || die "$curlbin is missing (run scripts/setup.sh)"
curlver=$(pkgver curl)

# Every shared library the interpreter, its extension modules and curl load,
# with the dynamic loader, at the paths ldd reports (which is where they will
# be looked for in the guest).
ldd_out=$(ldd "$pybin" "$curlbin" "${dynload[@]}")
! grep -q 'not found' <<<"$ldd_out" || die "unresolved libraries: $(grep 'not found' <<<"$ldd_out" | sort -u | tr -s ' \t\n' ' ')"
mapfile -t libs < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\/.*ld-linux/ { print $1 }' <<<"$ldd_out" | LC_ALL=C sort -u)

busybox=/bin/busybox
bbver=$(pkgver busybox-static)
[ -x "$busybox" ] || die "$busybox is missing (run scripts/setup.sh)"

# The libraries' contents are part of the hash so that a security update of,
# say, libssl3 reaches the image without a change anywhere else.
selfsum=$(sha256 "$self")
guestsum=$(sha256 "$guest")
libsums=$(sha256sum "${libs[@]}")
curlsum=$(sha256 "$curlbin")
hash=$(printf '%s\n' "script $selfsum" "kernel $kpkg $kver" "busybox-static $bbver" \
  "${pyvers[@]}" "curl $curlver $curlsum" "guest $guestsum" "$libsums" | sha256sum | cut -d' ' -f1)

images=$cache/images
final=$images/$hash
mkdir -p "$images" "$cache/debs"

# Copies the cached image into the output directory. A reader sees the old
# set of files, then briefly none, then the new set; never a mix.
publish() {
  if [ -f "$out/image.json" ] && cmp -s "$final/image.json" "$out/image.json" &&
    [ -f "$out/vmlinux" ] && [ -f "$out/initramfs.cpio" ]; then
    return
  fi
  mkdir -p "$(dirname "$out")"
  local f tmp old
  tmp=$(mktemp -d "$out.tmp.XXXXXX")
  for f in vmlinux initramfs.cpio image.json; do
    ln "$final/$f" "$tmp/$f" 2>/dev/null || cp "$final/$f" "$tmp/$f"
  done
  chmod 755 "$tmp"
  if [ -e "$out" ]; then
    old=$(mktemp -d "$out.old.XXXXXX")
    mv -T "$out" "$old"
    mv -T "$tmp" "$out"
    rm -rf "$old"
  else
    mv -T "$tmp" "$out"
  fi
}

if [ -d "$final" ]; then
  touch "$final" # the pruning below keeps the most recently used images
  publish
  say "cached $hash"
  exit 0
fi

work=$(mktemp -d "$images/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
# On a signal bash first waits for the step under way, so the EXIT trap never
# removes files from under a running tar or cpio.
trap 'exit 1' HUP INT TERM
root=$work/root
img=$work/image
mkdir -p "$root" "$img" "$work/kernel"

# The kernel package, fetched once into the cache. apt-get download warns when
# its unprivileged _apt user cannot write the directory; that is harmless, so
# apt's output is shown only when the download fails.
deb=$cache/debs/${kpkg}_${kver//:/%3a}_amd64.deb
if [ ! -f "$deb" ]; then
  say "downloading $kpkg $kver"
  mkdir -p "$work/dl"
  if ! (cd "$work/dl" && apt-get download -q "$kpkg=$kver") >"$work/apt.log" 2>&1; then
    cat "$work/apt.log" >&2
    die "apt-get download $kpkg=$kver failed"
  fi
  mv "$work/dl/"*.deb "$deb"
  find "$cache/debs" -maxdepth 1 -name 'linux-image-*.deb' ! -name "${deb##*/}" -delete
fi

# Only the files the image uses leave the package (all its modules would be
# 400 MB); nothing is installed on the host.
say "extracting vmlinux"
moddir=lib/modules/$abi/kernel/drivers
modules=("$moddir/virtio/virtio_ring" "$moddir/virtio/virtio" "$moddir/virtio/virtio_mmio"
  "$moddir/char/virtio_console")
# A module is either .ko or .ko.xz; the pattern takes whichever is there.
members=("./boot/vmlinuz-$abi")
for m in "${modules[@]}"; do members+=("./$m.ko*"); done
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work/kernel" --wildcards "${members[@]}" ||
  die "extracting $kpkg failed"

# The bzImage wraps an xz stream holding the ELF that QEMU's microvm machine
# boots directly through its PVH entry note; everything after the stream is
# the bzImage's trailer, which LZMADecompressor leaves in unused_data.
[ -f "$work/kernel/boot/vmlinuz-$abi" ] || die "$kpkg has no boot/vmlinuz-$abi"
"$pybin" -I - "$work/kernel/boot/vmlinuz-$abi" "$img/vmlinux" <<'EOF' || die "no ELF kernel inside vmlinuz-$abi"
import lzma, sys
data = open(sys.argv[1], "rb").read()
start = data.find(b"\xfd7zXZ\x00")
if start < 0:
    sys.exit("no xz stream in " + sys.argv[1])
elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[start:])
if not elf.startswith(b"\x7fELF"):
    sys.exit("the xz stream in " + sys.argv[1] + " is not an ELF file")
open(sys.argv[2], "wb").write(elf)
EOF

# The initramfs tree. Debian's binaries look for their loader and libraries
# under /lib and /lib64, which on bookworm are links into /usr.
mkdir -p "$root"/{bin,dev,etc,job,modules,proc,run,sys,tmp,usr/bin,usr/lib,usr/lib64}
chmod 1777 "$root/tmp"
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"
install -m 0755 "$guest" "$root/init"
install -m 0755 "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
install -m 0755 "$curlbin" "$root/usr/bin/curl"
printf 'root:x:0:0:root:/:/bin/sh\nworker:x:1000:1000:worker:/job:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\nworker:x:1000:\n' >"$root/etc/group"

for m in "${modules[@]}"; do
  name=${m##*/}.ko
  src=$work/kernel/$m
  if [ -f "$src.ko" ]; then
    cp "$src.ko" "$root/modules/$name"
  elif [ -f "$src.ko.xz" ]; then
    xz -dc "$src.ko.xz" >"$root/modules/$name"
  else
    die "$kpkg has no $m.ko"
  fi
  # The guest loads them in this order: each one needs the symbols of those
  # before it.
  echo "$name" >>"$root/modules/order"
done

# --no-recursion: the list names the directories it wants, and leaves out
# the ones dropped above.
tar -C / -c --no-recursion -f - "${pybin#/}" usr/bin/python3 "${pyfiles[@]#/}" | tar -C "$root" -x -f -
for lib in "${libs[@]}"; do
  mkdir -p "$root${lib%/*}"
  cp -L "$lib" "$root$lib"
done

# Workers run as an unprivileged user who cannot write __pycache__, so without
# compiled modules every interpreter start would compile its imports again.
# Hash-based .pyc files do not depend on the files' times; "unchecked" skips
# hashing the source on import, since the image never changes.
"$pybin" -I -m compileall -q -j 0 --invalidation-mode unchecked-hash \
  -s "$root" -p / "$root$pylib" >"$work/compileall.log" 2>&1 || {
  cat "$work/compileall.log" >&2
  die "compiling the standard library failed"
}

# A broken tree would only show as a guest that never says "ready"; catch it
# here. Without root, a user namespace stands in for chroot's privilege.
say "checking python3, sh and curl in the image"
chroot=(chroot)
[ "$(id -u)" -eq 0 ] || chroot=(unshare --map-root-user chroot)
in_image() { env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "${chroot[@]}" "$root" "$@" 2>&1 || true; }
check=$(in_image /bin/sh -c 'echo sh ok')
[ "$check" = "sh ok" ] || die "self-check failed: /bin/sh does not run in the image: $check"
check=$(in_image /usr/bin/python3 -I -B -c 'import json, hashlib, ssl, sqlite3, decimal, ctypes; print("py ok")')
[ "$check" = "py ok" ] || die "self-check failed: python3 does not run in the image: $check"
check=$(in_image /usr/bin/curl --version)
[[ $check == "curl "* ]] || die "self-check failed: curl does not run in the image: $check"

# Fixed times, owners and inode numbers, in sorted order: the same inputs
# give the same archive.
find "$root" -exec touch -h -d @0 {} +
count=$(find "$root" -mindepth 1 | wc -l)
(cd "$root" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
  cpio -o -H newc --owner=0:0 --reproducible --quiet >"$img/initramfs.cpio")
bytes=$(stat -c %s "$img/initramfs.cpio")
say "packing initramfs ($count files, $((bytes / 1048576)) MiB)"

cat >"$img/image.json" <<EOF
{"kernel": "$abi", "kernel_package": "$kver", "python": "$pyver", "runtimes": ["sh", "python3", "exec"], "hash": "$hash", "initramfs_bytes": $bytes}
EOF

# Another build of the same inputs may have finished first; its image is as
# good as ours.
mv -T "$img" "$final" 2>/dev/null || [ -d "$final" ] || die "cannot move the image into $final"
publish

# Keep the three most recently used images; remove what killed builds left.
find "$images" -mindepth 1 -maxdepth 1 -type d ! -name '.*' -printf '%T@ %f\n' |
  sort -rn | tail -n +4 | while read -r _ h; do rm -rf "${images:?}/$h"; done
find "$images" -mindepth 1 -maxdepth 1 -name '.build.*' -mmin +60 -exec rm -rf {} +

say "ready $hash in $out"
