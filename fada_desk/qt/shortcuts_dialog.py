"""Help ▸ Keyboard shortcuts: a sheet of every action of the window with its keys.

The sheet is generated from the actions themselves each time it opens
(:func:`shortcut_rows`): the menus in menu-bar order, then the window's actions
that are in no menu. Nothing is typed twice, so the sheet can never disagree
with what the keys do. Actions without a key are listed with "—" (reachable
from their menu with Alt + the underlined letter).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fada_desk.qt.util import dialog_buttons

NO_KEY = "—"
OTHER = "Other window keys"


@dataclass(frozen=True)
class ShortcutRow:
    group: str  # the menu ("Review", "File ▸ Recent") or OTHER
    action: str  # its text without the mnemonic "&"
    keys: str  # e.g. "A" or "Del, Backspace"; NO_KEY when it has none
    tip: str  # what it does (the status tip), may be ""


def plain_text(text: str) -> str:
    """A menu text without its mnemonic markers ("&Open file…" -> "Open file…", "&&" -> "&")."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&")


def key_text(action: QAction) -> str:
    keys = [s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts() if not s.isEmpty()]
    return ", ".join(keys) if keys else NO_KEY


def shortcut_rows(window: QMainWindow) -> list[ShortcutRow]:
    """Every action of ``window``'s menus (in order) and its other actions that carry a key."""
    rows: list[ShortcutRow] = []
    seen: set[int] = set()

    def row(group: str, a: QAction) -> None:
        seen.add(id(a))
        rows.append(ShortcutRow(group, plain_text(a.text()), key_text(a), a.statusTip()))

    def visit(menu: QMenu, group: str) -> None:
        for a in menu.actions():
            if a.isSeparator() or not a.isVisible():
                continue
            sub = a.menu()
            if sub is not None:
                visit(sub, f"{group} ▸ {plain_text(a.text())}")
            elif id(a) not in seen:
                row(group, a)

    for top in window.menuBar().actions():
        if top.menu() is not None:
            visit(top.menu(), plain_text(top.text()))
    for a in window.actions():
        if id(a) not in seen and key_text(a) != NO_KEY:
            row(OTHER, a)
    return rows


class ShortcutsDialog(QDialog):
    """The shortcut sheet (non-modal: it can stay open beside the work)."""

    def __init__(self, window: QMainWindow, parent: QWidget | None = None) -> None:
        super().__init__(parent or window)
        self.setObjectName("shortcutsDialog")
        self.setWindowTitle("Keyboard shortcuts")
        self.window_ = window
        intro = QLabel("Every action of the window and its keys. The keys work wherever the focus is in the "
                       "window, except while typing in a text field.")
        intro.setWordWrap(True)
        self.filter_edit = QLineEdit()
        self.filter_edit.setObjectName("shortcutsFilter")
        self.filter_edit.setPlaceholderText("Filter: type part of an action or a key")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.apply_filter)
        self.tree = QTreeWidget()
        self.tree.setObjectName("shortcutsTree")
        self.tree.setHeaderLabels(["Action", "Key", "What it does"])
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setWordWrap(True)
        buttons = dialog_buttons(self, QDialogButtonBox.StandardButton.Close)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addWidget(self.filter_edit)
        lay.addWidget(self.tree, 1)
        lay.addWidget(buttons)
        self.resize(640, 560)
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the sheet from the window's actions as they are now."""
        self.rows = shortcut_rows(self.window_)
        self.tree.clear()
        groups: dict[str, QTreeWidgetItem] = {}
        for r in self.rows:
            parent = groups.get(r.group)
            if parent is None:
                parent = groups[r.group] = QTreeWidgetItem(self.tree, [r.group])
                font = parent.font(0)
                font.setBold(True)
                parent.setFont(0, font)
                parent.setFirstColumnSpanned(True)
            QTreeWidgetItem(parent, [r.action, r.keys, r.tip])
        self.tree.expandAll()
        for col in (0, 1):
            self.tree.resizeColumnToContents(col)
        self.apply_filter(self.filter_edit.text())

    def apply_filter(self, text: str) -> None:
        needle = text.strip().lower()
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            shown = 0
            for j in range(group.childCount()):
                child = group.child(j)
                hit = not needle or any(needle in child.text(c).lower() for c in range(3))
                child.setHidden(not hit)
                shown += hit
            group.setHidden(shown == 0)

    def keys_for(self, action_text: str) -> str:
        """The keys the sheet lists for an action (tests, the status bar)."""
        return next((r.keys for r in self.rows if r.action == plain_text(action_text)), "")
