; Inno Setup script: wraps the PyInstaller folder dist\fada-desk into FadaDesk-Setup-<version>.exe.
; Build on Windows: installer\windows\build.ps1  (runs PyInstaller, then ISCC.exe on this file).
; Per-machine install into Program Files; user data (exam store, models) stays in %LOCALAPPDATA%\fada_desk
; and is never removed by the uninstaller (no data lost on upgrade or uninstall).
#define AppName "fada_desk"
#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif

[Setup]
AppId={{6C1F3E0B-3C7B-4E8C-9D55-FADA0DE5C001}
AppName={#AppName}
AppVersion={#AppVersion}
AppPublisher=fada_desk
DefaultDirName={autopf}\fada_desk
DefaultGroupName=fada_desk
OutputDir=..\..\dist
OutputBaseFilename=FadaDesk-Setup-{#AppVersion}
Compression=lzma2
SolidCompression=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
PrivilegesRequiredOverridesAllowed=dialog
UninstallDisplayIcon={app}\fada-desk.exe
WizardStyle=modern

[Files]
Source: "..\..\dist\fada-desk\*"; DestDir: "{app}"; Flags: recursesubdirs createallsubdirs ignoreversion

[Icons]
Name: "{group}\fada_desk"; Filename: "{app}\fada-desk.exe"
Name: "{autodesktop}\fada_desk"; Filename: "{app}\fada-desk.exe"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "Create a desktop shortcut"; Flags: unchecked

[Run]
Filename: "{app}\fada-desk.exe"; Description: "Start fada_desk"; Flags: nowait postinstall skipifsilent
