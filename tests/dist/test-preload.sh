#!/bin/sh
# SPDX-License-Identifier: MIT
# test-preload BUILD_DIR: dise preload and dise service on scratch roots
# (--root, DISE_SYSROOT), never the real /etc (issue 13, item 2): every
# change undone to the byte, other entries kept, refused shims leave every
# file as it was.
. "$(dirname "$0")/lib.sh"
BUILD=$1
DISE=$BUILD/bin/dise
MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
R=$T/root
SHIMDIR=/usr/lib/$MULTIARCH/dise
mkdir -p "$R/etc" "$R$SHIMDIR"
cp "$BUILD/lib/libdise_shim.so" "$R$SHIMDIR/"
SHIM="--shim $R$SHIMDIR/libdise_shim.so"
P=$R/etc/ld.so.preload

# rc CMD...: its exit status, its output in $T/out
rc() {
	_rc=0
	"$@" >"$T/out" 2>&1 || _rc=$?
	echo $_rc
}

# ---- preload: enable then disable gives back every byte, whatever was there ----
for before in '/lib/a.so\n' '/lib/a.so' '' 'a.so:b.so c.so\n\n# not a comment\n' '  /lib/a.so  \n'; do
	printf "$before" >"$P"
	cp "$P" "$T/before"
	expect_eq "status before" "$(rc "$DISE" preload status --root "$R" $SHIM)" 3
	expect_eq "enable" "$(rc "$DISE" preload enable --root "$R" $SHIM)" 0
	grep -qx "$SHIMDIR/libdise_shim.so" "$P" || fail "enable: no line for the shim in: $(cat "$P")"
	head -c "$(wc -c <"$T/before")" "$P" | cmp -s - "$T/before" || fail "enable changed what was there"
	expect_eq "status after" "$(rc "$DISE" preload status --root "$R" $SHIM)" 0
	expect_eq "enable again" "$(rc "$DISE" preload enable --root "$R" $SHIM)" 0
	expect_eq "entries after enabling twice" "$(grep -c libdise_shim "$P")" 1
	expect_eq "disable" "$(rc "$DISE" preload disable --root "$R" $SHIM)" 0
	cmp "$P" "$T/before" || fail "disable did not give back '$before': $(od -c "$P")"
done
ok "enable/disable: the shim added as one line, other entries kept, undone to the byte"

# an entry another tool added after enable stays; the shim's own line goes
printf '/lib/a.so\n' >"$P"
"$DISE" preload enable --root "$R" $SHIM >/dev/null
printf '/lib/z.so\n' >>"$P"
"$DISE" preload disable --root "$R" $SHIM >/dev/null
expect_eq "after another's entry" "$(tr '\n' ' ' <"$P")" "/lib/a.so /lib/z.so "

# a file enable created is removed by disable, marker too; its mode is 0644
rm -f "$P"
expect_eq "enable (no file)" "$(rc "$DISE" preload enable --root "$R" $SHIM)" 0
expect_eq "mode of a new file" "$(stat -c %a "$P")" 644
"$DISE" preload disable --root "$R" $SHIM >/dev/null
[ ! -e "$P" ] || fail "disable kept the file enable created"
[ ! -e "$R/var/lib/dise" ] || fail "disable kept the marker"
# the mode and owner of an existing file are kept
printf '/lib/a.so\n' >"$P"
chmod 640 "$P"
chown 1:1 "$P"
DISE_SYSROOT=$R "$DISE" preload enable $SHIM >/dev/null # DISE_SYSROOT is --root's default
expect_eq "mode and owner kept" "$(stat -c '%a %u:%g' "$P")" "640 1:1"
DISE_SYSROOT=$R "$DISE" preload disable $SHIM >/dev/null
ok "a file enable made is removed again; mode and owner kept; DISE_SYSROOT"

# ---- refusals leave the file as it was ----
printf '/lib/a.so\n' >"$P"
cp "$P" "$T/before"
cp /etc/hostname "$R/notelf.so"
head -c 4096 "$R$SHIMDIR/libdise_shim.so" >"$R/truncated.so"
cp "$R$SHIMDIR/libdise_shim.so" "$R/writable.so"
chmod 664 "$R/writable.so"
for bad in notelf.so truncated.so writable.so; do
	expect_eq "enable with $bad" "$(rc "$DISE" preload enable --root "$R" --shim "$R/$bad")" 1
	grep -q "left as it was" "$T/out" || fail "$bad: $(cat "$T/out")"
	cmp -s "$P" "$T/before" || fail "$bad: the file changed"
done
grep -q "can be changed by another user" "$T/out" || fail "writable.so: $(cat "$T/out")"
expect_eq "default shim outside the root" "$(rc "$DISE" preload enable --root "$R")" 1
grep -q "not inside the root" "$T/out" || fail "outside the root: $(cat "$T/out")"
mv "$P" "$R/etc/real"
ln -s real "$P"
expect_eq "enable through a symbolic link" "$(rc "$DISE" preload enable --root "$R" $SHIM)" 1
grep -q "symbolic link" "$T/out" || fail "symlink: $(cat "$T/out")"
[ -L "$P" ] && cmp -s "$R/etc/real" "$T/before" || fail "the link or its file changed"
rm "$P"
expect_eq "relative root" "$(rc "$DISE" preload status --root etc)" 1
expect_eq "no verb" "$(rc "$DISE" preload)" 2
ok "refused: a file that is not ELF, a shim that does not load (ld.so), one another user can write, a symbolic link"

# ---- dise service ----
D=$R/etc/systemd/system/cron.service.d
expect_eq "service status" "$(rc "$DISE" service status cron --root "$R")" 3
expect_eq "service watch" "$(rc "$DISE" service watch cron --root "$R" $SHIM)" 0
grep -qx "Environment=LD_PRELOAD=$SHIMDIR/libdise_shim.so" "$D/dise-watch.conf" || fail "drop-in: $(cat "$D/dise-watch.conf")"
grep -qx '\[Service\]' "$D/dise-watch.conf" || fail "drop-in has no [Service]"
expect_eq "service status" "$(rc "$DISE" service status cron.service --root "$R")" 0
expect_eq "service unwatch" "$(rc "$DISE" service unwatch cron --root "$R")" 0
[ ! -e "$D" ] || fail "unwatch kept the directory watch made: $(ls -a "$D")"
# a drop-in directory that was there stays, with its other files
mkdir -p "$D"
echo '[Service]' >"$D/other.conf"
"$DISE" service watch cron --root "$R" $SHIM >/dev/null
"$DISE" service unwatch cron --root "$R" >/dev/null
expect_eq "the admin's drop-ins" "$(ls -A "$D")" "other.conf"
expect_eq "watch with a shim that does not load" "$(rc "$DISE" service watch cron --root "$R" --shim "$R/truncated.so")" 1
expect_eq "the admin's drop-ins, after a refused watch" "$(ls -A "$D")" "other.conf"
expect_eq "a socket unit" "$(rc "$DISE" service watch cron.socket --root "$R" $SHIM)" 1
expect_eq "a path as unit" "$(rc "$DISE" service watch ../../x --root "$R" $SHIM)" 1
# --user: the user's own units, under $XDG_CONFIG_HOME
XDG_CONFIG_HOME=$T/config "$DISE" service watch --user app >/dev/null
[ -f "$T/config/systemd/user/app.service.d/dise-watch.conf" ] || fail "--user drop-in"
XDG_CONFIG_HOME=$T/config "$DISE" service unwatch --user app >/dev/null
[ ! -e "$T/config/systemd/user/app.service.d" ] || fail "--user unwatch"
ok "service watch/unwatch/status: the drop-in, undone exactly, the admin's files kept, bad names and shims refused"
