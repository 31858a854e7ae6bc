"""Review ▸ Finalize report… and Review ▸ Amend report…: the report's sign-off from the GUI.

Views only: the rules (refused while AI proposals are pending, a final report is
locked, an amendment needs a reason and makes the next version) are the app
service's (:mod:`fada_desk.app.report_versions`, through the open
:class:`~fada_desk.app.review_session.ReviewSession`). Reading the report state and
writing the sign-off run on the review dock's worker, never on the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QInputDialog, QLineEdit, QMessageBox, QWidget

from fada_desk.core.errors import error_text
from fada_desk.qt.workers import JobRunner


class ReportActions(QObject):
    """The two actions, bound to whatever review session is open (``session()``)."""

    finalized = Signal(object)  # the audit entry of the new version
    amended = Signal(object)  # the Amendment
    refused = Signal(str)  # why finalizing / amending was refused (also shown in a message box)

    def __init__(self, parent: QWidget, runner: JobRunner, session: Callable[[], Any],
                 message: Callable[[str], None]) -> None:
        super().__init__(parent)
        self._parent = parent
        self._runner = runner
        self._session = session
        self._message = message
        self.dialog: QInputDialog | None = None
        self.box: QMessageBox | None = None
        self.act_finalize = QAction("Finalize report…", self)
        self.act_finalize.setObjectName("reviewFinalize")
        self.act_finalize.setToolTip("Sign the report: refused while AI proposals are pending; locks it")
        self.act_finalize.triggered.connect(self.finalize)
        self.act_amend = QAction("Amend report…", self)
        self.act_amend.setObjectName("reviewAmend")
        self.act_amend.setToolTip("Reopen a final report for a change, with a reason (makes the next version)")
        self.act_amend.triggered.connect(self.amend)
        self.set_enabled(False)

    def set_enabled(self, on: bool) -> None:
        self.act_finalize.setEnabled(on)
        self.act_amend.setEnabled(on)

    # ------------------------------------------------------------------ finalize
    def finalize(self) -> None:
        session = self._session()
        if session is None:
            return

        def status(_token: Any) -> Any:
            from fada_desk.app.report_versions import report_status

            session.flush()
            return report_status(session.store, session.exam_id)

        h = self._runner.submit(status, "report-status")
        h.result.connect(lambda st: self._ask_statement(session, st))
        h.error.connect(lambda e: self._refuse("Cannot read the report", error_text(e)))

    def _ask_statement(self, session: Any, status: Any) -> None:
        if status.refusal:
            self._refuse("Cannot finalize the report", status.refusal)
            return
        self.dialog = self._text_dialog(
            "Finalize report",
            f"Sign the report as {session.operator}. Statement (optional):",
            lambda text: self._run(session, "finalize", lambda s: s.sign_off(text), self.finalized,
                                   "Report finalized and locked."))

    # ------------------------------------------------------------------ amend
    def amend(self) -> None:
        session = self._session()
        if session is None:
            return
        self.dialog = self._text_dialog(
            "Amend report", "Why does the final report change? (required, kept with the new version)",
            lambda reason: self._amend(session, reason))

    def _amend(self, session: Any, reason: str) -> None:
        if not reason.strip():
            self._refuse("Cannot amend the report", "An amendment needs a reason.")
            return
        self._run(session, "amend", lambda s: s.amend(reason.strip()), self.amended,
                  "Report reopened for amendment: edit, then finalize the new version.")

    # ------------------------------------------------------------------ plumbing
    def _run(self, session: Any, name: str, fn: Callable[[Any], Any], done: Any, text: str) -> None:
        h = self._runner.submit(lambda _token: fn(session), f"report-{name}")
        h.result.connect(lambda res: (done.emit(res), self._message(text)))
        h.error.connect(lambda e: self._refuse(f"Cannot {name} the report", error_text(e)))

    def _text_dialog(self, title: str, label: str, accepted: Callable[[str], None]) -> QInputDialog:
        dlg = QInputDialog(self._parent)
        dlg.setWindowTitle(title)
        dlg.setLabelText(label)
        dlg.setInputMode(QInputDialog.InputMode.TextInput)
        dlg.setTextEchoMode(QLineEdit.EchoMode.Normal)
        dlg.textValueSelected.connect(accepted)
        dlg.open()
        return dlg

    def _refuse(self, title: str, text: str) -> None:
        self.refused.emit(text)
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self._parent)
        box.open()
        self.box = box
