# Build the Windows installer: PyInstaller one-folder app, then Inno Setup.
# Needs: Python 3.11 x64, Visual Studio Build Tools (C++ + CMake, for llama-cpp-python), Inno Setup 6 (ISCC.exe on PATH).
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..\..")
py -3.11 -m venv .venv-win
$env:CMAKE_ARGS = "-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
.\.venv-win\Scripts\python -m pip install --upgrade pip
.\.venv-win\Scripts\python -m pip install -e ".[ai,package]"
.\.venv-win\Scripts\pyinstaller installer\fada_desk.spec --noconfirm
$version = (.\.venv-win\Scripts\python -c "import fada_desk; print(fada_desk.__version__)")
ISCC.exe "/DAppVersion=$version" installer\windows\fada_desk.iss
