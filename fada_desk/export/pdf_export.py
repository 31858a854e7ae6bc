"""PDF report with reportlab: clinic header, patient and exam, biometry with GA/EFW and the
equations used, images with reviewed overlays and accepted interpretation, operator
sign-off and an AI note that states exactly what was reviewed (counts of accepted, edited,
rejected and pending AI proposals); "Page i of n" on every page.

The report's version and status (preliminary / final / amended) head the first page and
every page's header; the sign-off section names the signer, the content hash and earlier
versions, and says "Not yet signed off" only when that is true. A finalized version
(``bundle.version``) is written reproducibly: reportlab's invariant mode, the creation date
and "generated" text from the version's signing time, the document ID derived from its
version and content hash, so exporting it again gives the same bytes.

reportlab is imported inside :meth:`PdfExporter.run` only (heavy import, CLI --help stays fast).
A Unicode TTF (DejaVu Sans) is embedded when the system has one so names like
"Ndèye Fatou" or "Ngọc" print correctly; otherwise the PDF base fonts are used.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from fada_desk.core.cancel import CancelToken, Progress
from fada_desk.core.interpretation import FIELD_TITLES, INTERPRETATION_FIELDS, display_text
from fada_desk.export.base import (
    Exporter,
    Job,
    check,
    prepare_dir,
    safe_name,
    write_atomic,
)
from fada_desk.export.options import PENDING_MARK, ExportOptions
from fada_desk.export.bundle import ExportBundle, iso
from fada_desk.export.png_export import frame_overlay

_TTF = {
    "regular": ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "C:/Windows/Fonts/DejaVuSans.ttf"),
    "bold": ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", "C:/Windows/Fonts/DejaVuSans-Bold.ttf"),
}


def _fonts() -> tuple[str, str]:
    """(regular, bold) font names, registering DejaVu once when available."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    names = []
    for style, fallback in (("regular", "Helvetica"), ("bold", "Helvetica-Bold")):
        name = f"FadaDejaVu-{style}"
        if name in pdfmetrics.getRegisteredFontNames():
            names.append(name)
            continue
        path = next((p for p in _TTF[style] if Path(p).exists()), None)
        if path is None:
            names.append(fallback)
            continue
        try:
            pdfmetrics.registerFont(TTFont(name, path))
            names.append(name)
        except Exception:  # a broken system font must not break the report
            names.append(fallback)
    return names[0], names[1]


def _t(text: Any) -> str:
    return escape(str(text if text is not None else ""))


def _pdf_date(ts_utc: str) -> str:
    """A PDF date (``D:YYYYMMDDHHmmSS+00'00'``) from the store's UTC timestamp text."""
    digits = "".join(c for c in ts_utc[:19] if c.isdigit())
    return f"D:{digits:0<14}+00'00'"


def _sign_off(bundle: ExportBundle) -> list[tuple[str, str]]:
    """(text, style) lines of the sign-off section: style "body", "warn" or "small"."""
    state = bundle.report
    signed = state.signed
    lines: list[tuple[str, str]] = []
    if signed is not None:
        text = (f"<b>{_t(state.headline())}</b>. Finalized in fada_desk by <b>{_t(signed.signer)}</b> on "
                f"{_t(signed.signed_at)} (UTC).")
        if signed.statement:
            text += f" Statement: {_t(signed.statement)}"
        lines.append((text, "body"))
        if signed.reason:
            who = f" (amendment opened by {_t(signed.amended_by)})" if signed.amended_by else ""
            lines.append((f"Amends version {signed.version - 1}: {_t(signed.reason)}{who}.", "body"))
        lines.append((f"Content hash (SHA-256): {_t(signed.content_hash)}", "small"))
    else:
        lines.append((f"<b>{_t(state.headline())}</b>. {_t(state.sign_off_text())}", "warn"))
    earlier = [_t(line) for v, line in zip(state.versions, state.history_lines()) if v is not signed]
    if earlier:
        lines.append(("Earlier versions: " + "; ".join(earlier) + ".", "small"))
    return lines


def _rows_person(bundle: ExportBundle) -> list[tuple[str, str]]:
    exam, p = bundle.exam, bundle.patient
    ga = bundle.ga_by_dates()
    return [
        ("Patient", getattr(p, "display_name", p.name) or "-"),
        ("Patient ID", p.patient_id),
        ("Date of birth", iso(p.dob) or "-"),
        ("Exam date", iso(exam.exam_date) or "-"),
        ("LMP", iso(exam.lmp) or "-"),
        ("EDD", iso(getattr(exam.dating, "edd", None)) if exam.dating else "-"),
        ("GA by dates", ga["text"] if ga else "-"),
        ("Operator", exam.operator or "-"),
        ("Referring", exam.referring or "-"),
        ("Study UID", exam.uid),
    ]


class PdfExporter(Exporter):
    name = "pdf"
    suffix = ".pdf"
    description = "Printable report: patient, biometry with GA/EFW, annotated images, sign-off"

    def run(
        self, bundle: ExportBundle, out_dir: Path, options: ExportOptions, cancel: CancelToken | None = None
    ) -> Job:
        from PIL import Image as PILImage
        from reportlab.lib import colors
        from reportlab.lib.pagesizes import A4
        from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
        from reportlab.lib.units import mm
        from reportlab.pdfgen import canvas as rl_canvas
        from reportlab.platypus import (
            Image,
            KeepTogether,
            Paragraph,
            SimpleDocTemplate,
            Spacer,
            Table,
            TableStyle,
        )

        out = prepare_dir(out_dir)
        yield Progress("preparing report", 0.02)
        regular, bold = _fonts()
        base = getSampleStyleSheet()
        body = ParagraphStyle("body", parent=base["BodyText"], fontName=regular, fontSize=9, leading=11.5)
        small = ParagraphStyle(
            "small", parent=body, fontSize=7.5, leading=9.5, textColor=colors.HexColor("#444444")
        )
        h1 = ParagraphStyle("h1", parent=base["Heading1"], fontName=bold, fontSize=15, spaceAfter=4)
        h2 = ParagraphStyle(
            "h2", parent=base["Heading2"], fontName=bold, fontSize=11.5, spaceBefore=8, spaceAfter=4
        )
        warn = ParagraphStyle("warn", parent=body, textColor=colors.HexColor("#9a3412"))
        grid = TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), regular),
                ("FONTSIZE", (0, 0), (-1, -1), 8.5),
                ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#b0b0b0")),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
                ("FONTNAME", (0, 0), (-1, 0), bold),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
        page_w, page_h = A4
        margin = 15 * mm
        width = page_w - 2 * margin
        operator = bundle.operator or "(no operator recorded)"
        note = bundle.ai_note
        clinic = bundle.clinic.lines or ["(clinic name not set: Settings > Clinic)"]

        def para(text: str, style: ParagraphStyle = body) -> Paragraph:
            return Paragraph(text, style)

        def table(rows: list[list[Any]], widths: list[float], header: bool = True) -> Table:
            t = Table(
                [[c if isinstance(c, Paragraph) else para(_t(c)) for c in r] for r in rows],
                colWidths=widths,
                repeatRows=1 if header else 0,
            )
            style = TableStyle(grid.getCommands())
            if not header:
                style.add("BACKGROUND", (0, 0), (-1, 0), colors.white)
                style.add("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f2f2f2"))
            t.setStyle(style)
            return t

        state, version = bundle.report, bundle.version
        story: list[Any] = [para("Fetal ultrasound report", h1)]
        banner = f"<b>Report {_t(state.headline().lower())}</b>. {_t(state.sign_off_text())}"
        story.append(para(banner, body if state.signed is not None else warn))
        story.append(Spacer(1, 3))
        person = _rows_person(bundle)
        half = (len(person) + 1) // 2
        rows = []
        for i in range(half):
            left = person[i]
            rt = person[i + half] if i + half < len(person) else ("", "")
            rows.append([para(f"<b>{_t(left[0])}</b>"), left[1], para(f"<b>{_t(rt[0])}</b>"), rt[1]])
        story.append(table(rows, [0.16 * width, 0.34 * width, 0.16 * width, 0.34 * width], header=False))
        if bundle.pending_count:
            story.append(Spacer(1, 4))
            if bundle.include_pending:
                text = (f"This report includes {bundle.pending_included} AI item(s) that are still "
                        f"<b>{PENDING_MARK}</b>; they are marked and are not confirmed findings.")
            else:
                text = (f"{bundle.pending_count} AI proposal(s) were <b>not reviewed and are not "
                        f"included</b> in this report.")
            story.append(para(text, warn))

        # ---- biometry
        story.append(para("Biometry", h2))
        if bundle.measurements:
            story.append(
                table(
                    [["Parameter", "Value", "Method"]]
                    + [
                        [f"{m.parameter} ({_t(m.to_dict()['name'])})", f"{m.value_mm:.1f} mm", m.method]
                        for m in bundle.measurements
                    ],
                    [0.3 * width, 0.15 * width, 0.55 * width],
                )
            )
        else:
            story.append(para("No accepted measurements."))
        for problem in bundle.measurement_problems:
            story.append(para(f"Not measured: {_t(problem)}", warn))
        rep = bundle.biometry
        if rep is not None:
            story.append(Spacer(1, 5))
            rows = [["Gestational age", "Result", "Notes"]]
            for e in rep.ga:
                star = " (primary)" if e is rep.primary_ga else ""
                rows.append([f"{e.equation.name}{star}", f"{e.text} ({e.value:.0f} d)", " ".join(e.warnings)])
            story.append(table(rows, [0.38 * width, 0.18 * width, 0.44 * width]))
            if rep.efw:
                story.append(Spacer(1, 5))
                rows = [["Estimated fetal weight", "Result", "Notes"]]
                for e in rep.efw:
                    star = " (primary)" if e is rep.primary_efw else ""
                    rows.append([f"{e.equation.name}{star}", e.text, " ".join(e.warnings)])
                story.append(table(rows, [0.38 * width, 0.18 * width, 0.44 * width]))
            for w in rep.warnings:
                story.append(para(f"Warning: {_t(w)}", warn))
            story.append(Spacer(1, 4))
            story.append(para("<b>Equations and references</b>", small))
            seen = set()
            for e in (*rep.ga, *rep.efw):
                if e.equation.key in seen:
                    continue
                seen.add(e.equation.key)
                story.append(
                    para(
                        f"<b>{_t(e.equation.name)}</b>: {_t(e.equation.formula)}. Valid: "
                        f"{_t(e.equation.validity)}. {_t(e.equation.reference)}",
                        small,
                    )
                )
            cited = {e.equation.reference for e in (*rep.ga, *rep.efw)}
            for ref in rep.references:
                if ref not in cited:  # papers behind the warnings (ACOG redating, cephalic index)
                    story.append(para(_t(ref), small))
        check(cancel)

        # ---- images
        n = len(bundle.frames)
        for i, frame in enumerate(bundle.frames):
            check(cancel)
            yield Progress(f"rendering image {i + 1} of {n}", 0.05 + 0.8 * i / max(n, 1))
            rgb = frame_overlay(bundle, frame)
            buf = io.BytesIO()
            PILImage.fromarray(rgb).save(buf, format="PNG")
            buf.seek(0)
            h_px, w_px = rgb.shape[:2]
            iw = width
            ih = iw * h_px / w_px
            max_h = 0.42 * page_h
            if ih > max_h:
                ih, iw = max_h, max_h * w_px / h_px
            block: list[Any] = [
                para(
                    f"Image {i + 1}: item #{frame.frame.item_id}, frame {frame.frame.frame_index}"
                    f" ({_t(frame.item.kind)})",
                    h2,
                ),
                Image(buf, width=iw, height=ih),
            ]
            cls = frame.classification
            if cls is not None:
                mark = f" <i>({PENDING_MARK})</i>" if cls.pending else ""
                block.append(para(f"View classification: <b>{_t(cls.value)}</b>{mark}"))
            story.append(KeepTogether(block))
            fields = [
                (k, frame.interpretation[k]) for k in INTERPRETATION_FIELDS if k in frame.interpretation
            ]
            if fields:
                rows = [["Interpretation", "Finding", "Review"]]
                for k, v in fields:
                    status = f"{v.status} ({v.provenance})" + (f" - {PENDING_MARK}" if v.pending else "")
                    rows.append([FIELD_TITLES[k], display_text(v.value), status])
                story.append(Spacer(1, 3))
                story.append(table(rows, [0.25 * width, 0.53 * width, 0.22 * width]))
            elif frame.interpretation == {} and cls is None:
                story.append(para("No reviewed AI interpretation for this image.", small))

        # ---- sign-off
        yield Progress("sign-off", 0.9)
        styles = {"body": body, "warn": warn, "small": small}
        sign = [
            para("Review and sign-off", h2),
            para(f"<b>{_t(note)}</b>. {_t(bundle.review_statement())}"),
            *(para(text, styles[style]) for text, style in _sign_off(bundle)),
        ]
        sign.append(Spacer(1, 14))
        signed_on = state.signed.signed_at[:10] if state.signed is not None else ""
        sign.append(
            table(
                [["Operator", "Signature", "Date"], [operator, "", signed_on]],
                [0.4 * width, 0.4 * width, 0.2 * width],
            )
        )
        sign.append(Spacer(1, 4))
        if version is not None:
            audit = f"Audit trail: signed in entry #{version.audit_seq}; entry hash {_t(version.audit_hash)}."
        else:
            audit = f"Audit trail: {bundle.audit_count} entries; chain head {_t(bundle.audit_head or '-')}."
        sign.append(para(audit, small))
        story.append(KeepTogether(sign))

        header_lines = clinic
        if version is not None:  # nothing of "now" in a finalized version: its bytes are reproducible
            footer_left = f"{note} - v{version.version} finalized {version.signed_at} - fada_desk {bundle.app_version}"
        else:
            footer_left = f"{note} - generated {bundle.generated_at} by fada_desk {bundle.app_version}"
        patient_tag = f"{bundle.patient.patient_id}"
        version_tag = f"Report {state.headline().lower()}"
        fixed_date = _pdf_date(version.signed_at) if version is not None else None
        keywords = f"fada_desk report version {state.version} {state.status}" + (
            f" sha256:{version.content_hash}" if version is not None else "")

        class NumberedCanvas(rl_canvas.Canvas):
            """Two-pass page numbers: remember pages, then stamp 'Page i of n'."""

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self._states: list[dict[str, Any]] = []
                if fixed_date is not None:  # a finalized version: its signing time, never "now"
                    self.setDateFormatter(lambda *_ymdhms: fixed_date)

            def showPage(self) -> None:  # noqa: N802 - reportlab API
                self._states.append(dict(self.__dict__))
                self._startPage()

            def save(self) -> None:
                total = len(self._states)
                for state in self._states:
                    self.__dict__.update(state)
                    self._decorate(total)
                    super().showPage()
                super().save()

            def _decorate(self, total: int) -> None:
                self.saveState()
                y = page_h - 10 * mm
                self.setFont(bold, 10)
                self.drawString(margin, y, header_lines[0])
                self.setFont(regular, 7.5)
                for k, line in enumerate(header_lines[1:4], start=1):
                    self.drawString(margin, y - 9 * k, line)
                self.drawRightString(page_w - margin, y, f"Patient ID {patient_tag}")
                self.drawRightString(page_w - margin, y - 9, version_tag)
                self.setStrokeColor(colors.HexColor("#8899aa"))
                self.line(margin, page_h - 24 * mm + 4, page_w - margin, page_h - 24 * mm + 4)
                self.line(margin, 13 * mm, page_w - margin, 13 * mm)
                self.setFont(regular, 7)
                self.drawString(margin, 9 * mm, footer_left[:140])
                self.drawRightString(page_w - margin, 9 * mm, f"Page {self._pageNumber} of {total}")
                self.restoreState()

        suffix = f"_v{version.version}" if version is not None else ""
        path = out / f"exam-{bundle.exam.id}_{safe_name(bundle.patient.patient_id, 'patient')}_report{suffix}.pdf"

        def build(p: Path) -> None:
            doc = SimpleDocTemplate(
                str(p),
                pagesize=A4,
                leftMargin=margin,
                rightMargin=margin,
                topMargin=26 * mm,
                bottomMargin=18 * mm,
                title=f"Fetal ultrasound report {bundle.patient.patient_id}",
                author=operator,
                creator=f"fada_desk {bundle.app_version}",
                subject="AI-assisted fetal ultrasound report",
                keywords=keywords,
                invariant=1 if version is not None else None,
            )
            doc.build(story, canvasmaker=NumberedCanvas)

        check(cancel)
        yield Progress("writing PDF", 0.95)
        write_atomic(path, build)
        yield Progress(f"wrote {path.name}", 1.0, path)
        return [path]
