# Sourced by scripts/trainer-image.sh and scripts/cluster-images.sh after they set SCRIPT (the
# name their messages carry) and DOCKER, and point stdout at stderr with fd 3 kept for answers.

# An answer on the caller's stdout (a pid, a path, an image name); progress goes to stderr.
answer() { echo "$*" >&3; }
say() { echo "$SCRIPT: $*"; }
die() {
  say "$*"
  exit 1
}

# A root filesystem tarball ($1, - for stdin) imported as the base image $2, with the PATH,
# locale and command a Debian image has.
import_rootfs() {
  "$DOCKER" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    "$1" "$2" >/dev/null
}
