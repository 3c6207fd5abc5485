"""The sanitize module and creator verification rules."""
import pytest

from crowdfund import verification
from crowdfund.models import CreatorVerification
from crowdfund.sanitize import clean_html, markdown_to_html


@pytest.mark.parametrize("dirty", [
    "<script>alert(1)</script>", '<img src=x onerror="alert(1)">', '<a href="javascript:alert(1)">x</a>',
    '<div hx-get="/admin" hx-trigger="load">x</div>', '<p data-hx-post="/x">x</p>', '<p style="color:red">x</p>',
    '<iframe src="https://evil.example"></iframe>', '<img src="https://tracker.example/p.gif">',
])
def test_dangerous_html_is_removed(dirty):
    clean = clean_html(dirty)
    for bad in ("<script", "onerror", "javascript:", "hx-", "style=", "<iframe", "tracker.example"):
        assert bad not in clean


def test_markdown_keeps_the_useful_parts():
    html = markdown_to_html("## 标题\n\n- 一\n- 二\n\n**粗** [链接](https://example.com) ![图](/media/ab/cd-480.jpg)")
    assert "<h2>标题</h2>" in html and "<li>一</li>" in html and "<strong>粗</strong>" in html
    assert 'href="https://example.com"' in html and 'rel="nofollow noopener ugc"' in html
    assert '<img alt="图" src="/media/ab/cd-480.jpg" loading="lazy" decoding="async">' in html


@pytest.mark.parametrize("number, ok", [("11010519491231002X", True), ("110105194912310021", False),
                                        ("11010519491231002", False), ("1101051949123100XX", False)])
def test_resident_id_check_digit(number, ok):
    assert verification.valid_id_number(number) is ok


def test_credit_code_shape():
    assert verification.valid_credit_code("91350100M000100Y43")
    assert not verification.valid_credit_code("91350100M000100Y4")
    assert not verification.valid_credit_code("91350100M000100YI3")


def test_numbers_are_shown_masked():
    assert CreatorVerification(id_number="11010519491231002X").masked_id_number == "110***********002X"


def test_images_whose_address_is_refused_disappear_instead_of_showing_broken():
    assert clean_html('<p>看<img src=x onerror="alert(1)">图</p>') == "<p>看图</p>"
    assert clean_html('<img alt="远程" src="https://tracker.example/p.gif">') == ""
    assert clean_html('<img alt="本站" src="/media/ab/cd-480.jpg">') == '<img alt="本站" src="/media/ab/cd-480.jpg">'
