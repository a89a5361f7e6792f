#!/bin/sh
# vsftpd anchor for firmdrop's bench: anonymous, read-only, loopback only, in the foreground.
#   bench/anchors/vsftpd.sh ROOT PORT PASV_MIN PASV_MAX
# Needs root (vsftpd drops to the `ftp` user for anonymous sessions) and the Debian package:
#   apt-get install -y vsftpd
# ROOT must be readable by user ftp and not writable by it. Login: anonymous, any password.
# Settings other than these are vsftpd's defaults (one process pair per connection, max_clients=0, max_per_ip=0).
set -eu
[ $# -eq 4 ] || { echo "usage: $0 ROOT PORT PASV_MIN PASV_MAX" >&2; exit 2; }
command -v vsftpd >/dev/null 2>&1 || [ -x /usr/sbin/vsftpd ] || {
  echo "vsftpd is not installed: apt-get install -y vsftpd" >&2; exit 127; }
root=$1 port=$2 pmin=$3 pmax=$4
conf=$(mktemp /tmp/firmdrop-bench-vsftpd.XXXXXX)
cat >"$conf" <<CONF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$port
background=NO
anonymous_enable=YES
no_anon_password=YES
anon_root=$root
local_enable=NO
write_enable=NO
pasv_enable=YES
pasv_min_port=$pmin
pasv_max_port=$pmax
pasv_address=127.0.0.1
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
xferlog_enable=NO
dirmessage_enable=NO
connect_from_port_20=NO
max_clients=0
max_per_ip=0
secure_chroot_dir=/var/run/vsftpd/empty
CONF
mkdir -p /var/run/vsftpd/empty
# exec keeps our pid: the bench reads CPU and memory of this process tree. The config file is removed by the bench
# (its path is printed first) because exec leaves no shell to do it.
echo "config $conf"
exec "$(command -v vsftpd || echo /usr/sbin/vsftpd)" "$conf"
