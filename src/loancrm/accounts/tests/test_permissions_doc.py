from pathlib import Path

from loancrm.accounts.permissions import permission_matrix_markdown

DOC = Path(__file__).resolve().parents[4] / "docs" / "permissions.md"


def test_docs_matrix_matches_code():
    text = DOC.read_text(encoding="utf-8")
    embedded = text.split("<!-- matrix:start -->\n", 1)[1].split("\n<!-- matrix:end -->", 1)[0]
    assert embedded.strip() == permission_matrix_markdown().strip(), (
        "regenerate the table in docs/permissions.md"
    )
