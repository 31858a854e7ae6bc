#!/usr/bin/env bash
# Build the Linux installer: PyInstaller one-folder app -> .deb (installs to /opt/fada-desk,
# /usr/bin/fada-desk symlink, desktop entry) and a portable .tar.gz.
# Usage: installer/linux/build.sh [--skip-ai]   (--skip-ai builds without the llama.cpp engine)
set -euo pipefail
cd "$(dirname "$0")/../.."
extras="ai,package"
[ "${1:-}" = "--skip-ai" ] && extras="package"
bash scripts/setup-env.sh "$extras"
version=$(.venv/bin/python -c "import fada_desk; print(fada_desk.__version__)")
.venv/bin/pyinstaller installer/fada_desk.spec --noconfirm --distpath dist --workpath build/pyinstaller

# Portable archive.
tar -C dist -czf "dist/fada-desk-${version}-linux-x86_64.tar.gz" fada-desk

# Debian package.
pkg="build/deb/fada-desk_${version}_amd64"
rm -rf "$pkg" && mkdir -p "$pkg/DEBIAN" "$pkg/opt" "$pkg/usr/bin" "$pkg/usr/share/applications"
cp -a dist/fada-desk "$pkg/opt/fada-desk"
ln -s /opt/fada-desk/fada-desk "$pkg/usr/bin/fada-desk"
cp installer/linux/fada-desk.desktop "$pkg/usr/share/applications/"
if [ -f resources/icons/fada_desk.png ]; then
  mkdir -p "$pkg/usr/share/icons/hicolor/256x256/apps"
  cp resources/icons/fada_desk.png "$pkg/usr/share/icons/hicolor/256x256/apps/fada-desk.png"
fi
size=$(du -sk "$pkg" | cut -f1)
cat > "$pkg/DEBIAN/control" <<CONTROL
Package: fada-desk
Version: ${version}
Architecture: amd64
Maintainer: fada_desk <support@localhost>
Installed-Size: ${size}
Depends: libgl1, libegl1, libxkbcommon0, libfontconfig1, libdbus-1-3, libglib2.0-0
Section: science
Priority: optional
Description: Offline ultrasound workstation with the local FADA fetal-ultrasound AI
 Streams frames from a capture card or files, runs the quantized FADA pipeline
 locally, and exports reviewed results (JSON, PDF, DICOM).
CONTROL
dpkg-deb --root-owner-group --build "$pkg" "dist/fada-desk_${version}_amd64.deb"
echo "built: dist/fada-desk_${version}_amd64.deb dist/fada-desk-${version}-linux-x86_64.tar.gz"
