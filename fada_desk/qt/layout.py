"""Layout for the screens a clinic has: a 1366x768 laptop as much as a 1920x1080 desk screen.

* :func:`restore_window` / :func:`save_window`: the window opens fitted to the
  screen's available area (never the fixed size that put the status bar below
  a 768-pixel screen), or where the sonographer left it: geometry, dock sizes
  and tabs (``QMainWindow.saveState``) are kept in the settings.
* :func:`limit_side_width`: side docks may take about a third of the window's
  width, at least 460 px (the image is the work), more on a wide screen.
* :func:`remember_splitter`: a splitter's sizes survive a restart.
* :class:`ElidedLabel`: a one-line label that shrinks with "…" and then
  carries its whole text as a tooltip, instead of widening the window.
* :func:`wrap_rows` and :func:`optional_columns`: tables whose long texts wrap
  (row heights follow the column widths) and whose secondary columns step
  aside when the panel is narrow (their text stays in the tooltips).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from PySide6.QtCore import QByteArray, QEvent, QObject, QRect, QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QGuiApplication, QResizeEvent
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QSplitter, QTableWidget, QWidget

#: the largest size a new window takes (a bigger screen leaves room around it)
PREFERRED = QSize(1920, 1200)
#: room left for the window manager's frame (title bar, borders) around the client area
FRAME_ALLOWANCE = QSize(8, 40)
SIDE_MIN_WIDTH = 460
SIDE_SHARE = 0.34  # of the window's width, for side docks
STATE_VERSION = 1
GEOMETRY_KEY, STATE_KEY = "window/geometry", "window/state"


def initial_geometry(available: QRect, preferred: QSize = PREFERRED) -> QRect:
    """The client rectangle of a new window on a screen whose free area is ``available``:
    the preferred size where it fits, else all the room there is (frame included), centred."""
    w = max(1, min(preferred.width(), available.width() - FRAME_ALLOWANCE.width()))
    h = max(1, min(preferred.height(), available.height() - FRAME_ALLOWANCE.height()))
    x = available.x() + max(0, (available.width() - FRAME_ALLOWANCE.width() - w) // 2)
    y = available.y() + max(0, (available.height() - FRAME_ALLOWANCE.height() - h) // 2)
    return QRect(x, y, w, h)


def fit_to_screen(window: QWidget) -> QRect:
    """Size and place ``window`` for its screen (the primary one before it is shown)."""
    screen = window.screen() or QGuiApplication.primaryScreen()
    rect = initial_geometry(screen.availableGeometry())
    window.resize(rect.size())
    window.move(rect.topLeft())
    return rect


def restore_window(window: QMainWindow, settings: QSettings) -> None:
    """Geometry and dock layout as saved by :func:`save_window`, else fitted to the screen.

    The dock state is restored once the event loop runs, after the docks that tabify
    themselves on creation have done so, so the sonographer's own arrangement wins.
    """
    geo = settings.value(GEOMETRY_KEY)
    if not (isinstance(geo, QByteArray) and window.restoreGeometry(geo)):
        fit_to_screen(window)
    state = settings.value(STATE_KEY)
    if isinstance(state, QByteArray):
        QTimer.singleShot(0, window, lambda: window.restoreState(state, STATE_VERSION))


def save_window(window: QMainWindow, settings: QSettings) -> None:
    settings.setValue(GEOMETRY_KEY, window.saveGeometry())
    settings.setValue(STATE_KEY, window.saveState(STATE_VERSION))


def side_width_limit(window_width: int) -> int:
    return max(SIDE_MIN_WIDTH, int(window_width * SIDE_SHARE))


class _SideWidth(QObject):
    """Keeps the side docks' maximum width at :func:`side_width_limit` of the window."""

    def __init__(self, window: QMainWindow, docks: Sequence[QDockWidget]) -> None:
        super().__init__(window)
        self.docks = list(docks)
        self.apply(window.width())
        window.installEventFilter(self)

    def apply(self, window_width: int) -> None:
        limit = side_width_limit(window_width)
        for d in self.docks:
            d.setMaximumWidth(limit)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.Resize and isinstance(event, QResizeEvent):
            self.apply(event.size().width())
        return False


def limit_side_width(window: QMainWindow, docks: Iterable[QDockWidget]) -> QObject:
    return _SideWidth(window, tuple(docks))


def remember_splitter(splitter: QSplitter, settings: QSettings, key: str) -> None:
    """Restore ``splitter``'s sizes from ``settings[key]`` and save them whenever it is moved."""
    state = settings.value(key)
    if isinstance(state, QByteArray):
        splitter.restoreState(state)
    splitter.splitterMoved.connect(lambda *_: settings.setValue(key, splitter.saveState()))


class ElidedLabel(QLabel):
    """A one-line label that may shrink below its text: it then ends in "…" and its tooltip
    holds the whole text. :meth:`text` is always the whole text."""

    def __init__(self, text: str = "", parent: QWidget | None = None, min_chars: int = 6) -> None:
        super().__init__(parent)
        self._full = ""
        self._min_chars = min_chars
        self.setText(text)

    def text(self) -> str:  # noqa: D102 - QLabel API
        return self._full

    def setText(self, text: str) -> None:  # noqa: N802 - Qt API
        self._full = str(text)
        self.updateGeometry()
        self._elide()

    @property
    def elided(self) -> bool:
        return super().text() != self._full

    def _room(self) -> int:
        m = self.contentsMargins()
        return max(0, self.width() - m.left() - m.right() - 2 * self.margin())

    def _elide(self) -> None:
        fm = self.fontMetrics()
        shown = fm.elidedText(self._full, Qt.TextElideMode.ElideRight, self._room())
        if shown != super().text():
            super().setText(shown)
        self.setToolTip(self._full if shown != self._full else "")

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        m = self.contentsMargins()
        w = self.fontMetrics().horizontalAdvance(self._full) + m.left() + m.right() + 2 * self.margin() + 4
        return QSize(w, super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt API
        m = self.contentsMargins()
        w = self.fontMetrics().horizontalAdvance("x" * self._min_chars) + m.left() + m.right()
        return QSize(min(w, self.sizeHint().width()), super().minimumSizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._elide()


def wrap_rows(table: QTableWidget) -> None:
    """Let long cell texts wrap: row heights follow the column widths as they change."""
    table.setWordWrap(True)
    table.setTextElideMode(Qt.TextElideMode.ElideNone)
    timer = QTimer(table)
    timer.setSingleShot(True)
    timer.setInterval(0)
    timer.timeout.connect(table.resizeRowsToContents)
    table.horizontalHeader().sectionResized.connect(lambda *_: timer.start())


class _OptionalColumns(QObject):
    def __init__(self, table: QTableWidget, columns: Sequence[int], min_width: int) -> None:
        super().__init__(table)
        self.table, self.columns, self.min_width = table, tuple(columns), min_width
        table.installEventFilter(self)
        self.apply()

    def apply(self) -> None:
        narrow = self.table.width() < self.min_width
        for c in self.columns:
            if self.table.isColumnHidden(c) != narrow:
                self.table.setColumnHidden(c, narrow)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.Resize:
            self.apply()
        return False


def optional_columns(table: QTableWidget, columns: Sequence[int], min_width: int) -> QObject:
    """Hide ``columns`` while ``table`` is narrower than ``min_width`` px (put their text in the
    tooltips of the columns that stay)."""
    return _OptionalColumns(table, columns, min_width)


def rows_height(table: QTableWidget, rows: int) -> int:
    """Height ``table`` needs to show its header and ``rows`` default-height rows."""
    hh = table.horizontalHeader()
    header = 0 if hh.isHidden() else hh.sizeHint().height()
    return header + rows * table.verticalHeader().defaultSectionSize() + 2 * table.frameWidth()


def min_rows(table: QTableWidget, rows: int) -> None:
    """Never let a layout squeeze ``table`` below ``rows`` visible rows (it scrolls beyond)."""
    table.setMinimumHeight(rows_height(table, rows))
