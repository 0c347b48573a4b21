"""``dppmg judge serve``: the local judging page (FastAPI + Jinja templates, served by uvicorn).

A judge signs in with a name or a given code, then sees one case at a time: the strip of the
user's history, the candidates in the case's order, and the paper's two questions (rank by taste,
rank by how well image and text belong together). A ranking is made with the mouse (click the
candidates best first) or the keyboard (type their letters; Backspace takes the last back); a
complete ranking is sent at once, and a progress bar counts the cases done. A judge who comes back
signs in with the same name and continues where they stopped. Every asset is served from this
package: the page works without any network. Only the case files listed in the study are served
(never ``key.json``, the database or a path outside the case folder), and no route returns votes.
"""

import os
import re
import socket
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from dppmg.errors import DPPMGError
from dppmg.study import QUESTIONS
from dppmg.study.store import VoteRefused, VoteStore

HERE = Path(__file__).resolve().parent
COOKIE = "dppmg_judge"
_CASE_ID = re.compile(r"case\d{3}")


def create_app(study: "str | os.PathLike", db: "str | os.PathLike | None" = None) -> FastAPI:
    """The judging app of the study folder ``study`` (files verified against ``study.json``)."""
    from dppmg.study.export import load_cases, load_study

    study = Path(study).resolve()
    meta = load_study(study)
    cases = load_cases(study, meta)
    store = VoteStore(Path(db) if db else study / "votes.sqlite", meta["study_hash"],
                      {c: [x["label"] for x in v["candidates"]] for c, v in cases.items()})
    served = {c: {x["image"] for x in v["history"]} | {x["image"] for x in v["candidates"]} for c, v in cases.items()}
    app = FastAPI(title="DPPMG human study", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")
    app.state.store = store

    def judge_of(request: Request) -> "str | None":
        token = request.cookies.get(COOKIE)
        return token if store.judge_name(token) else None

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request):
        token = judge_of(request)
        if token is None:
            return templates.TemplateResponse(request, "login.html", {"error": None, "cases": len(cases)})
        nxt = store.progress(token)["next"]
        return RedirectResponse(f"/case/{nxt}" if nxt else "/done", status_code=303)

    @app.post("/login")
    def login(request: Request, name: str = Form("")):
        try:
            token = store.judge(name)
        except VoteRefused as exc:
            return templates.TemplateResponse(request, "login.html", {"error": str(exc), "cases": len(cases)},
                                              status_code=400)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    @app.get("/case/{case_id}", response_class=HTMLResponse)
    def case_page(request: Request, case_id: str):
        token = judge_of(request)
        if token is None:
            return RedirectResponse("/", status_code=303)
        if case_id not in cases:
            return HTMLResponse(f"unknown case {case_id!r}", status_code=404)
        return templates.TemplateResponse(request, "case.html", {
            "case": cases[case_id], "questions": QUESTIONS, "progress": store.progress(token),
            "answered": store.answered(token, case_id), "judge": store.judge_name(token)})

    @app.post("/api/vote")
    async def vote(request: Request):
        try:
            body: dict[str, Any] = await request.json()
            store.vote(request.cookies.get(COOKIE), str(body.get("case_id")), str(body.get("question")),
                       body.get("ranking"))
        except VoteRefused as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except ValueError:
            return JSONResponse({"error": "the vote must be a JSON object"}, status_code=400)
        return {"ok": True, **store.progress(request.cookies.get(COOKIE))}

    @app.get("/img/{case_id}/{name}")
    def image(case_id: str, name: str):
        if not _CASE_ID.fullmatch(case_id) or name not in served.get(case_id, set()):
            return JSONResponse({"error": "not a file of this study"}, status_code=404)
        return FileResponse(study / "cases" / case_id / name, media_type="image/png")

    @app.get("/done", response_class=HTMLResponse)
    def done(request: Request):
        token = judge_of(request)
        if token is None:
            return RedirectResponse("/", status_code=303)
        return templates.TemplateResponse(request, "done.html", {"progress": store.progress(token),
                                                                 "judge": store.judge_name(token)})

    return app


def check_port_free(host: str, port: int) -> None:
    """A clear error when ``host:port`` cannot be bound (in use, or not an address of this machine)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise DPPMGError(f"cannot serve on {host}:{port}: {exc.strerror or exc} (is another server using the "
                             f"port? pass --port)") from exc


def serve(study: str | os.PathLike, host: str = "127.0.0.1", port: int = 8000,
          db: str | os.PathLike | None = None) -> None:
    """Serve the judging page until interrupted."""
    import uvicorn

    app = create_app(study, db)
    check_port_free(host, port)
    print(f"judging page for {Path(study)}: http://{host}:{port}/ (Ctrl-C stops it; votes go to "
          f"{Path(db) if db else Path(study) / 'votes.sqlite'})")
    uvicorn.run(app, host=host, port=port, log_level="warning")
