"""PDFs printed by Chromium (Playwright driving /usr/bin/chromium) from HTML
whose text, in reading order, is known: multi-column articles, running
headers and footers, tables, figures with captions, pages turned, and
right-to-left scripts."""

import html

from tests.truth.prose import paragraphs, sentences

STYLE = (
    "body{font-family:'DejaVu Serif',serif;font-size:11pt;line-height:1.35;margin:0}"
    "p{margin:0 0 .55em} h1{font-size:17pt;margin:0 0 .5em} h2{font-size:13pt;margin:.6em 0 .3em}"
    "table{border-collapse:collapse;margin:.6em 0} td,th{border:1px solid #555;padding:3px 8px;"
    "vertical-align:top;text-align:left} figure{margin:.8em 0} figcaption{font-size:9.5pt}"
)
A4 = {"format": "A4", "margin": {"top": "18mm", "bottom": "18mm", "left": "16mm", "right": "16mm"}}


def page(body: str, *, extra_style: str = "", direction: str = "ltr") -> str:
    return (
        f"<!doctype html><html dir='{direction}'><head><meta charset='utf-8'>"
        f"<style>{STYLE}{extra_style}</style></head><body>{body}</body></html>"
    )


def ps(texts: list[str]) -> str:
    return "".join(f"<p>{html.escape(text)}</p>" for text in texts)


def columns_two() -> dict:
    title, body, after = "Notes from the harbour ledger", paragraphs(11, 9), sentences(12, 3)
    source = page(
        f"<h1>{title}</h1><div style='column-count:2;column-gap:9mm'>{ps(body)}</div>{ps(after)}"
    )
    return {"html": source, "truth": [title, *body, *after]}


def columns_three() -> dict:
    title, body = "Three columns of the orchard survey", paragraphs(13, 7, sentences_each=3)
    source = page(f"<h1>{title}</h1><div style='column-count:3;column-gap:7mm'>{ps(body)}</div>")
    return {"html": source, "truth": [title, *body]}


def columns_drawn_right_first() -> dict:
    """Two columns whose right one comes first in the page's source, so the
    PDF draws it first: a reader still starts at the left."""
    title, left, right = "Ferry timetable notes", paragraphs(14, 3), paragraphs(15, 3)
    source = page(
        f"<h1>{title}</h1><div style='display:grid;grid-template-columns:1fr 1fr;gap:9mm'>"
        f"<div style='grid-column:2;grid-row:1'>{ps(right)}</div>"
        f"<div style='grid-column:1;grid-row:1'>{ps(left)}</div></div>"
    )
    return {"html": source, "truth": [title, *left, *right]}


HEADER = (
    "<div style='font-size:9px;width:100%;margin:0 16mm;display:flex;"
    "justify-content:space-between;font-family:DejaVu Sans'>"
    "<span>Harbour ledger quarterly</span><span>Volume seven</span></div>"
)
FOOTER = (
    "<div style='font-size:9px;width:100%;text-align:center;font-family:DejaVu Sans'>"
    "Page <span class='pageNumber'></span> of <span class='totalPages'></span></div>"
)


def running_headers() -> dict:
    pages = [paragraphs(20 + n, 4, sentences_each=3) for n in range(3)]
    body = "".join(
        f"<div style='column-count:2;column-gap:9mm;break-after:page'>{ps(texts)}</div>"
        for texts in pages
    )
    truth = []
    for number, texts in enumerate(pages, start=1):
        truth += ["Harbour ledger quarterly Volume seven", *texts, f"Page {number} of 3"]
    options = {
        **A4,
        "margin": {"top": "24mm", "bottom": "22mm", "left": "16mm", "right": "16mm"},
        "display_header_footer": True,
        "header_template": HEADER,
        "footer_template": FOOTER,
    }
    return {"html": page(body), "truth": truth, "options": options}


def headers_drawn_last() -> dict:
    """A running header and footer the page's source declares last (fixed
    elements Chromium repeats on every page, and draws after the body)."""
    pages = [paragraphs(25 + n, 3, sentences_each=3) for n in range(2)]
    body = f"<div style='break-after:page'>{ps(pages[0])}</div><div>{ps(pages[1])}</div>"
    fixed = (
        "<div style='position:fixed;top:0;left:0;right:0;font-size:9pt'>Tide almanac of the north</div>"
        "<div style='position:fixed;bottom:0;left:0;right:0;font-size:9pt;text-align:right'>"
        "Printed at the harbour office</div>"
    )
    truth = []
    for texts in pages:
        truth += ["Tide almanac of the north", *texts, "Printed at the harbour office"]
    source = page(f"<div style='padding:12mm 0'>{body}</div>{fixed}")
    return {"html": source, "truth": truth}


def _table(rows: list[list[str]], header: list[str]) -> str:
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def tables() -> dict:
    words = sentences(31, 40, words=(2, 3))
    header = ["Station", "Keeper", "Lamp", "Season"]
    rows = [[w.rstrip(".") for w in words[i : i + 4]] for i in range(0, 28, 4)]
    long_cell = sentences(32, 3)
    wide = [["Northern reach", " ".join(long_cell), "Spring"], ["Southern reach", "Calm", "Autumn"]]
    before, between, after = sentences(33, 3), sentences(34, 2), sentences(35, 2)
    source = page(
        f"<h1>Lighthouse register</h1>{ps(before)}{_table(rows, header)}{ps(between)}"
        f"{_table(wide, ['Reach', 'Log', 'Season'])}{ps(after)}"
    )
    truth = ["Lighthouse register", *before, " ".join(header)]
    truth += [" ".join(row) for row in rows] + between + ["Reach Log Season"]
    truth += [" ".join(row) for row in wide] + after
    return {"html": source, "truth": truth}


def _chart(width: int = 260) -> str:
    bars = "".join(
        f"<rect x='{20 + i * 40}' y='{120 - h}' width='26' height='{h}' fill='#6a8'/>"
        for i, h in enumerate((40, 90, 60, 100, 30))
    )
    return f"<svg width='{width}' height='130' xmlns='http://www.w3.org/2000/svg'>{bars}</svg>"


def figures() -> dict:
    intro, middle, end = paragraphs(41, 2), paragraphs(42, 2), sentences(43, 2)
    caption_one = "Figure 1. " + sentences(44, 1)[0]
    caption_two = "Figure 2. " + sentences(45, 1)[0]
    caption_three = "Figure 3. " + sentences(46, 1)[0]
    left, right = paragraphs(47, 2, sentences_each=3), paragraphs(48, 2, sentences_each=3)
    source = page(
        f"<h1>Orchard figures</h1>{ps(intro)}"
        f"<figure>{_chart()}<figcaption>{html.escape(caption_one)}</figcaption></figure>"
        f"{ps(middle)}<div style='column-count:2;column-gap:9mm'>{ps(left)}"
        f"<figure>{_chart(200)}<figcaption>{html.escape(caption_two)}</figcaption></figure>"
        f"{ps(right)}</div><figure><svg width='400' height='40'>"
        "<text x='10' y='25' font-family='DejaVu Sans' font-size='14'>Harvest by season</text>"
        f"</svg>{_chart(400)}<figcaption>{html.escape(caption_three)}</figcaption></figure>"
        f"{ps(end)}"
    )
    truth = ["Orchard figures", *intro, caption_one, *middle, *left, caption_two, *right]
    truth += ["Harvest by season", caption_three, *end]
    return {"html": source, "truth": truth}


def captions_drawn_last() -> dict:
    """A figure's caption the page's source declares after the text that
    follows the figure (a grid places it under the figure)."""
    intro, after = paragraphs(49, 2), paragraphs(50, 2)
    caption = "Figure 4. " + sentences(53, 1)[0]
    source = page(
        '<div style=\'display:grid;grid-template-areas:"intro" "chart" "caption" "after"\'>'
        f"<div style='grid-area:intro'>{ps(intro)}</div>"
        f"<div style='grid-area:chart'>{_chart()}</div>"
        f"<div style='grid-area:after'>{ps(after)}</div>"
        f"<div style='grid-area:caption;font-size:9.5pt;margin-bottom:.8em'>{html.escape(caption)}</div>"
        "</div>"
    )
    return {"html": source, "truth": [*intro, caption, *after]}


def rotated_content() -> dict:
    """A landscape table set sideways on a portrait page: its text runs up
    the page, as a reader turning the page sees it."""
    title, body = "Sideways tide table", paragraphs(51, 3)
    source = page(
        "<div style='position:absolute;top:0;left:0;width:245mm;transform-origin:0 0;"
        f"transform:translate(0,245mm) rotate(-90deg)'><h1>{title}</h1>{ps(body)}</div>"
    )
    return {"html": source, "truth": [title, *body]}


def turned(rotation: int) -> dict:
    """An ordinary page, printed and then turned with /Rotate."""
    title, body = f"Turned {rotation} degrees", paragraphs(60 + rotation // 90, 3)
    return {
        "html": page(f"<h1>{title}</h1>{ps(body)}"),
        "truth": [title, *body],
        "rotate": rotation,
    }


HEBREW = [
    "שלום לכל הקוראים של יומן הנמל.",
    "הספינה הגיעה בבוקר עם מטען של תפוחים ואגסים.",
    "שומר המגדלור כתב שלושה עמודים על הסערה.",
]
ARABIC = [
    "مرحبا بكم في سجل الميناء.",
    "وصلت السفينة في الصباح محملة بالتفاح.",
    "كتب حارس المنارة ثلاث صفحات عن العاصفة.",
]


def right_to_left() -> dict:
    mixed = "הספר Harbour Ledger נכתב בשנת 1897."
    source = page(
        f"<h1>יומן הנמל</h1>{ps(HEBREW)}<p>{html.escape(mixed)}</p>"
        f"<h2>سجل الميناء</h2>{ps(ARABIC)}",
        extra_style="body{font-family:'DejaVu Sans',sans-serif}",
        direction="rtl",
    )
    return {"html": source, "truth": ["יומן הנמל", *HEBREW, mixed, "سجل الميناء", *ARABIC]}


DOCUMENTS = {
    "columns": {
        "columns-two": columns_two,
        "columns-three": columns_three,
        "columns-right-first": columns_drawn_right_first,
    },
    "headers": {"running-headers": running_headers, "headers-drawn-last": headers_drawn_last},
    "tables": {"tables": tables},
    "figures": {"figures": figures, "captions-drawn-last": captions_drawn_last},
    "rotated": {
        "rotated-content": rotated_content,
        "turned-90": lambda: turned(90),
        "turned-180": lambda: turned(180),
        "turned-270": lambda: turned(270),
    },
    "rtl": {"right-to-left": right_to_left},
}


def print_all(out_dir, chromium: str) -> dict[str, tuple[str, str]]:
    """Print every document; {name: (category, truth)}."""
    import pypdfium2 as pdfium
    from playwright.sync_api import sync_playwright

    made = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            for category, documents in DOCUMENTS.items():
                for name, build in documents.items():
                    spec = build()
                    tab = browser.new_page()
                    tab.set_content(spec["html"])
                    path = out_dir / f"{name}.pdf"
                    path.write_bytes(tab.pdf(**spec.get("options", A4)))
                    tab.close()
                    if spec.get("rotate"):
                        document = pdfium.PdfDocument(path)
                        for number in range(len(document)):
                            document[number].set_rotation(spec["rotate"])
                        document.save(path.with_suffix(".tmp"))
                        document.close()
                        path.with_suffix(".tmp").replace(path)
                    made[name] = (category, "\n".join(spec["truth"]))
        finally:
            browser.close()
    return made
