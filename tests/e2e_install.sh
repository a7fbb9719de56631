#!/bin/bash
# make install into a temporary prefix, then build the README's library example
# against it with pkg-config and run it on the e2e fixture clip.
set -u
cd "$(dirname "$0")/.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
make -s BUILD="${BUILD:-build/release}" install PREFIX="$tmp/prefix" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log"; fail "make install failed"; }
for f in bin/voz lib/libvoz.a include/voz.h lib/pkgconfig/voz.pc; do
    [ -e "$tmp/prefix/$f" ] || fail "make install did not install $f"
done
cat >"$tmp/example.c" <<'C'
#include <voz.h>
#include <stdio.h>
int main(int argc, char **argv)
{
    struct voz_model *m;
    if (argc != 3 || voz_model_load(argv[1], &m) != VOZ_OK) {
        fprintf(stderr, "%s\n", voz_last_error());
        return 1;
    }
    voz_decode_params p = voz_decode_default_params();
    p.decoder = VOZ_DECODER_GREEDY;
    voz_transcript t;
    if (voz_transcribe_file(m, argv[2], &p, &t) != VOZ_OK) {
        fprintf(stderr, "%s\n", voz_last_error());
        return 1;
    }
    puts(t.text);
    voz_transcript_release(&t);
    voz_model_free(m);
    return 0;
}
C
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
# A sanitizer build installs an instrumented library: its users link the runtimes too.
san=()
case "${BUILD:-}" in *asan*) san=(-fsanitize=address,undefined) ;; esac
cc -Wall -Werror "${san[@]}" "$tmp/example.c" -o "$tmp/example" $(pkg-config --cflags --libs voz) ||
    fail "the example does not build against the installed library"
clip=$(ls tests/fixtures/e2e/*.wav | head -n 1)
want=$(cat tests/fixtures/e2e/transcript.txt 2>/dev/null || "$VOZ" transcribe -m tests/fixtures/e2e/model.voz --decoder greedy "$clip")
got=$("$tmp/example" tests/fixtures/e2e/model.voz "$clip") || fail "the example failed"
[ "$got" = "$want" ] || fail "installed library transcribes '$got', voz says '$want'"
"$tmp/prefix/bin/voz" --version | grep -q '^voz ' || fail "installed voz --version"
echo "ok: installed, built the example with pkg-config, it transcribes '$got'"
