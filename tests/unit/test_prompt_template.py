"""Helicone's legacy prompt-template syntax: parsing tagged traffic and compiling stored templates."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heliograph.services.prompt_template import (
    INPUT_TAG,
    CompiledPrompt,
    ParsedPrompt,
    auto_input_placeholder,
    compile_template,
    has_prompt_tags,
    input_keys,
    input_placeholder,
    parse_traffic,
    shape_hash,
    without_auto_inputs,
)

CLOSE = "</helicone-prompt-input>"


def tag(key: str, value: str, quote: str = '"') -> str:
    return f"<helicone-prompt-input key={quote}{key}{quote}>{value}{CLOSE}"


def static(text: str) -> str:
    return f"<helicone-prompt-static>{text}</helicone-prompt-static>"


def auto(index: int) -> str:
    return auto_input_placeholder(index)


def roundtrip(parsed: ParsedPrompt, inputs: dict[str, str] | None = None) -> Any:
    compiled = compile_template(
        parsed.template, parsed.inputs if inputs is None else inputs, parsed.auto_inputs
    )
    assert compiled.missing == []
    return compiled.value


# --- placeholders -----------------------------------------------------------------------------------------


def test_placeholder_spelling() -> None:
    assert INPUT_TAG == "helicone-prompt-input"
    assert input_placeholder("name") == '<helicone-prompt-input key="name" />'
    assert input_placeholder('naïve "q"') == "<helicone-prompt-input key='naïve \"q\"' />"
    assert input_placeholder("it's") == '<helicone-prompt-input key="it\'s" />'
    assert auto_input_placeholder(0) == "<helicone-auto-prompt-input idx=0 />"
    assert auto_input_placeholder(12) == "<helicone-auto-prompt-input idx=12 />"


@pytest.mark.parametrize("key", ["", "both \" and '"])
def test_unrepresentable_keys_are_rejected(key: str) -> None:
    with pytest.raises(ValueError, match="key"):
        input_placeholder(key)


def test_negative_auto_index_is_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        auto_input_placeholder(-1)


# --- parse_traffic: OpenAI shapes -------------------------------------------------------------------------


def test_openai_chat_with_string_content() -> None:
    system = {"role": "system", "content": "You are a poet."}
    messages = [
        system,
        {"role": "user", "content": f"Write about {tag('topic', ' the sea ')} in {tag('form', 'haiku')}."},
    ]
    parsed = parse_traffic(messages)
    assert parsed.body == [
        system,
        {"role": "user", "content": "Write about  the sea  in haiku."},
    ]
    assert parsed.template == [
        auto(0),
        {
            "role": "user",
            "content": f"Write about {input_placeholder('topic')} in {input_placeholder('form')}.",
        },
    ]
    assert parsed.inputs == {"topic": "the sea", "form": "haiku"}
    assert parsed.auto_inputs == [system]
    # With the untrimmed values the template compiles back to the body.
    assert roundtrip(parsed, {"topic": " the sea ", "form": "haiku"}) == parsed.body


def test_content_parts_text_part_stays_and_image_part_becomes_auto_input() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    messages = [
        {
            "role": "user",
            "content": [{"type": "text", "text": f"Describe {tag('subject', 'this cat')}"}, image],
        }
    ]
    parsed = parse_traffic(messages)
    assert parsed.template == [
        {
            "role": "user",
            "content": [{"type": "text", "text": f"Describe {input_placeholder('subject')}"}, auto(0)],
        }
    ]
    assert parsed.body == [
        {"role": "user", "content": [{"type": "text", "text": "Describe this cat"}, image]}
    ]
    # The image part is captured whole; its inner url dict is not a separate auto input.
    assert parsed.auto_inputs == [image]
    assert roundtrip(parsed) == parsed.body


def test_static_tags_keep_message_out_of_auto_inputs() -> None:
    messages = [
        {"role": "system", "content": static("You are terse.")},
        {"role": "user", "content": "hello"},
    ]
    parsed = parse_traffic(messages)
    assert parsed.body == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "hello"},
    ]
    assert parsed.template == [{"role": "system", "content": static("You are terse.")}, auto(0)]
    assert parsed.inputs == {}
    assert parsed.auto_inputs == [{"role": "user", "content": "hello"}]
    assert roundtrip(parsed) == parsed.body


def test_inputs_inside_static_are_still_inputs() -> None:
    parsed = parse_traffic(static(f"Hi {tag('n', 'Ada')}"))
    assert parsed.body == "Hi Ada"
    assert parsed.template == static(f"Hi {input_placeholder('n')}")
    assert parsed.inputs == {"n": "Ada"}
    assert roundtrip(parsed) == "Hi Ada"


def test_unpaired_and_nested_static_markers() -> None:
    open_, close = "<helicone-prompt-static>", "</helicone-prompt-static>"
    for text in [f"a{open_}b", f"a{close}b", f"{close}{open_}"]:
        assert parse_traffic(text).body == text
        assert not has_prompt_tags(text)
    # The innermost pair wins; the outer opening marker and the extra closing marker are literal.
    parsed = parse_traffic(f"{open_}x{open_}y{close}z{close}")
    assert parsed.body == f"{open_}xyz{close}"
    assert roundtrip(parsed) == parsed.body


def test_top_level_shapes() -> None:
    plain = {"role": "user", "content": "hi"}
    parsed = parse_traffic(plain)
    assert parsed == ParsedPrompt(body=plain, template=auto(0), inputs={}, auto_inputs=[plain])
    assert parse_traffic(tag("k", "v")) == ParsedPrompt(
        body="v", template=input_placeholder("k"), inputs={"k": "v"}, auto_inputs=[]
    )
    for scalar in [None, True, 3, 2.5, ""]:
        assert parse_traffic(scalar) == ParsedPrompt(body=scalar, template=scalar, inputs={}, auto_inputs=[])
    # Lists are never auto inputs; only dicts are.
    assert parse_traffic(["a", [1, None]]).template == ["a", [1, None]]


def test_nested_untagged_dicts_give_one_auto_input_each_in_order() -> None:
    first, second = {"a": {"b": {"c": 1}}}, {"d": [{"e": 2}]}
    parsed = parse_traffic({"messages": [first, {"content": tag("k", "v")}, second]})
    assert parsed.template == {"messages": [auto(0), {"content": input_placeholder("k")}, auto(1)]}
    assert parsed.auto_inputs == [first, second]
    assert roundtrip(parsed) == parsed.body


def test_dict_keys_are_never_parsed() -> None:
    key = tag("k", "v")
    parsed = parse_traffic([{key: "plain"}])
    assert parsed.template == [auto(0)]
    assert parsed.inputs == {}
    assert not has_prompt_tags({key: 1})


def test_same_key_twice_last_value_wins() -> None:
    parsed = parse_traffic([tag("k", "first"), f"x {tag('k', ' second ')}"])
    assert parsed.inputs == {"k": "second"}
    assert parsed.body == ["first", "x  second "]


def test_text_without_tags_is_unchanged() -> None:
    for text in ["plain", "a < b > c", "</b>", "helicone-prompt-input", "<helicone-prompt-inputs key='x'>"]:
        parsed = parse_traffic(text)
        assert parsed.body == parsed.template == text
        assert parsed.inputs == {}


def test_placeholders_in_traffic_are_plain_text() -> None:
    text = f"{input_placeholder('k')} {auto(3)}"
    parsed = parse_traffic([text])
    assert parsed.body == parsed.template == [text]
    assert not has_prompt_tags(text)


# --- syntax edge cases ------------------------------------------------------------------------------------


def test_tags_inside_tags_innermost_wins() -> None:
    outer = '<helicone-prompt-input key="a">'
    text = f"{outer}x {tag('b', 'y')} z{CLOSE}"
    parsed = parse_traffic(text)
    assert parsed.inputs == {"b": "y"}
    assert parsed.body == f"{outer}x y z{CLOSE}"
    assert parsed.template == f"{outer}x {input_placeholder('b')} z{CLOSE}"
    # The template pairs its tags exactly as the traffic did.
    assert input_keys(parsed.template) == ["b"]
    assert roundtrip(parsed) == parsed.body


def test_a_placeholder_inside_a_value_makes_the_outer_tag_literal() -> None:
    text = f'<helicone-prompt-input key="a">{input_placeholder("b")}{CLOSE}'
    parsed = parse_traffic(text)
    assert parsed.body == parsed.template == text
    assert parsed.inputs == {}


def test_closing_tag_without_opening() -> None:
    text = f"before{CLOSE}after {tag('k', 'v')} {CLOSE}"
    parsed = parse_traffic(text)
    assert parsed.body == f"before{CLOSE}after v {CLOSE}"
    assert parsed.inputs == {"k": "v"}


def test_opening_tag_without_closing() -> None:
    message = {"role": "user", "content": '<helicone-prompt-input key="k">dangling'}
    parsed = parse_traffic([message])
    assert parsed.body == [message]
    assert parsed.template == [auto(0)]
    assert parsed.inputs == {}
    assert not has_prompt_tags(message)


@pytest.mark.parametrize(
    "text",
    [
        '<helicone-prompt-input key="">v</helicone-prompt-input>',
        "<helicone-prompt-input key=''>v</helicone-prompt-input>",
        "<helicone-prompt-input key=\"a'>v</helicone-prompt-input>",
        "<helicone-prompt-input key=a>v</helicone-prompt-input>",
        '<helicone-prompt-inputkey="a">v</helicone-prompt-input>',
        '<helicone-prompt-input name="a">v</helicone-prompt-input>',
        '<HELICONE-PROMPT-INPUT key="a">v</HELICONE-PROMPT-INPUT>',
    ],
)
def test_empty_key_or_malformed_tag_is_literal(text: str) -> None:
    parsed = parse_traffic(text)
    assert parsed.body == parsed.template == text
    assert parsed.inputs == {}
    assert compile_template(text, {"a": "X", "": "X"}) == CompiledPrompt(
        value=text, missing=[], unused=["", "a"]
    )


def test_empty_key_placeholder_is_literal_in_templates() -> None:
    text = '<helicone-prompt-input key="" />'
    assert compile_template(text, {}) == CompiledPrompt(value=text, missing=[], unused=[])


def test_quotes_whitespace_and_unicode() -> None:
    value = " 🦜 line1\nline2 </b> back\\slash \"x\" 'y' "
    text = (
        f"<helicone-prompt-input key='naïve \"q\"'>{value}{CLOSE}|"
        f'<helicone-prompt-input  key = "it\'s"  >é{CLOSE}|'
        f'<helicone-prompt-input\nkey="日本">値{CLOSE}'
    )
    parsed = parse_traffic(text)
    assert parsed.inputs == {'naïve "q"': value.strip(), "it's": "é", "日本": "値"}
    assert parsed.body == f"{value}|é|値"
    assert parsed.template == "|".join(input_placeholder(k) for k in ['naïve "q"', "it's", "日本"])
    assert input_keys(parsed.template) == ['naïve "q"', "it's", "日本"]
    assert roundtrip(parsed, {'naïve "q"': value, "it's": "é", "日本": "値"}) == parsed.body


@pytest.mark.parametrize(
    "placeholder",
    [
        '<helicone-prompt-input key="k" />',
        '<helicone-prompt-input key="k"/>',
        "<helicone-prompt-input key='k' />",
        '<helicone-prompt-input key = "k"   />',
    ],
)
def test_placeholder_variants(placeholder: str) -> None:
    assert compile_template(f"[{placeholder}]", {"k": "v"}).value == "[v]"
    assert input_keys(placeholder) == ["k"]


@pytest.mark.parametrize(
    "placeholder",
    [
        "<helicone-auto-prompt-input idx=1 />",
        "<helicone-auto-prompt-input idx=1/>",
        '<helicone-auto-prompt-input idx="1" />',
        "<helicone-auto-prompt-input idx='1'/>",
        "<helicone-auto-prompt-input idx=001 />",
    ],
)
def test_auto_placeholder_variants(placeholder: str) -> None:
    assert compile_template([f"x {placeholder} y"], {}, ["zero", {"one": 1}]).value == [{"one": 1}]


@pytest.mark.parametrize(
    "text",
    [
        "<helicone-auto-prompt-input idx=a />",
        "<helicone-auto-prompt-input idx=\"1' />",
        "<helicone-auto-prompt-input idx=1>",
        "<helicone-auto-prompt-input />",
    ],
)
def test_malformed_auto_placeholder_is_literal(text: str) -> None:
    assert compile_template([text], {}, ["zero", "one"]).value == [text]


# --- compile_template -------------------------------------------------------------------------------------


def test_auto_inputs_are_reinserted() -> None:
    system = {"role": "system", "content": "sys"}
    template = [auto(0), {"role": "user", "content": input_placeholder("q")}, auto(1)]
    compiled = compile_template(template, {"q": "why?"}, [system, {"role": "assistant", "content": "ok"}])
    assert compiled.value == [
        system,
        {"role": "user", "content": "why?"},
        {"role": "assistant", "content": "ok"},
    ]
    assert compiled.missing == compiled.unused == []


def test_string_with_auto_placeholder_is_replaced_entirely() -> None:
    compiled = compile_template({"m": f"prefix {auto(0)} {input_placeholder('k')} suffix"}, {"k": "v"}, [[1]])
    assert compiled.value == {"m": [1]}
    # The swallowed string's placeholder is not a use of "k".
    assert compiled.unused == ["k"]


def test_missing_auto_input_removes_the_element() -> None:
    template = {"messages": [auto(0), auto(5), "text"], "extra": auto(9), "keep": 1}
    compiled = compile_template(template, {}, ["zero"])
    assert compiled.value == {"messages": ["zero", "text"], "keep": 1}
    assert compile_template(auto(0), {}).value is None
    huge = f"<helicone-auto-prompt-input idx={'9' * 5000} />"
    assert compile_template([huge, "x"], {}, ["zero"]).value == ["x"]


def test_missing_inputs_become_empty_and_are_listed() -> None:
    template = [f"{input_placeholder('b')}|{input_placeholder('a')}|{input_placeholder('b')}", "c"]
    compiled = compile_template(template, {})
    assert compiled == CompiledPrompt(value=["||", "c"], missing=["a", "b"], unused=[])


def test_unused_inputs_are_listed() -> None:
    compiled = compile_template(f"hi {input_placeholder('name')}", {"name": "Ada", "z": "1", "m": "2"})
    assert compiled == CompiledPrompt(value="hi Ada", missing=[], unused=["m", "z"])


def test_static_tags_are_removed_when_compiling() -> None:
    template = static(f"Be {input_placeholder('tone')}.")
    assert compile_template(template, {"tone": "kind"}).value == "Be kind."


def test_paired_tag_in_template_uses_input_else_inline_value() -> None:
    template = f"{tag('a', ' inline ')}|{tag('b', 'default')}"
    compiled = compile_template(template, {"a": "given"})
    assert compiled == CompiledPrompt(value="given|default", missing=[], unused=[])
    assert compile_template(template, {}).value == " inline |default"


def test_input_values_are_never_rescanned() -> None:
    sneaky = f"{input_placeholder('b')} {auto(0)} {static('s')} {tag('c', 'd')}"
    compiled = compile_template(f"x{input_placeholder('a')}y", {"a": sneaky, "b": "B"}, ["AUTO"])
    assert compiled.value == f"x{sneaky}y"
    assert compiled.unused == ["b"]


def test_compile_keeps_scalars_and_untagged_strings() -> None:
    template = {"model": "gpt-4o", "temperature": 0.2, "n": 1, "stream": False, "stop": None}
    assert compile_template(template, {}).value == template


def test_without_auto_inputs_keeps_everything_else_verbatim() -> None:
    kept = {"role": "user", "content": [{"type": "text", "text": static(f"Hi {input_placeholder('q')}")}]}
    template = {"messages": [auto(0), kept, {"content": [auto(1), "x"]}], "extra": f"a {auto(7)} b", "n": 1}
    original = copy.deepcopy(template)
    assert without_auto_inputs(template) == {"messages": [kept, {"content": ["x"]}], "n": 1}
    assert template == original
    assert without_auto_inputs(auto(0)) is None
    assert (
        without_auto_inputs("<helicone-auto-prompt-input idx=x />") == "<helicone-auto-prompt-input idx=x />"
    )


def test_traffic_differing_only_in_auto_inputs_has_the_same_shape() -> None:
    user = {"role": "user", "content": f"Hi {tag('name', 'Ada')}"}
    first = parse_traffic([{"role": "system", "content": "one"}, user])
    second = parse_traffic([{"role": "system", "content": "a"}, {"role": "assistant", "content": "b"}, user])
    assert first.template != second.template
    shape = [{"role": "user", "content": f"Hi {input_placeholder('name')}"}]
    assert without_auto_inputs(first.template) == without_auto_inputs(second.template) == shape


# --- input_keys / has_prompt_tags -------------------------------------------------------------------------


def test_input_keys_order_and_dedupe() -> None:
    template = {
        "model": "m",
        "messages": [
            {"role": "system", "content": f"{input_placeholder('b')} {input_placeholder('a')}"},
            {"role": "user", "content": [{"text": f"{tag('c', 'v')} {input_placeholder('b')}"}, auto(0)]},
        ],
        "tail": static(input_placeholder("d")),
        "after": input_placeholder("a"),
    }
    assert input_keys(template) == ["b", "a", "c", "d"]
    assert input_keys("no keys") == []
    assert input_keys([1, None, {"x": True}]) == []


def test_has_prompt_tags() -> None:
    assert has_prompt_tags([{"content": [{"text": tag("k", "v")}]}])
    assert has_prompt_tags({"a": static("s")})
    assert not has_prompt_tags([{"content": "plain"}, 1, None, input_placeholder("k"), auto(0)])
    assert not has_prompt_tags('<helicone-prompt-input key="k">no close')


# --- robustness -------------------------------------------------------------------------------------------


def test_five_megabyte_value() -> None:
    value = "ab \n" * (5 * 1024 * 1024 // 4)
    parsed = parse_traffic([{"role": "user", "content": f"start {tag('big', value)} end"}])
    assert parsed.inputs == {"big": value.strip()}
    assert parsed.body == [{"role": "user", "content": f"start {value} end"}]
    assert roundtrip(parsed, {"big": value}) == parsed.body


def test_ten_thousand_tags_in_one_string() -> None:
    text = "".join(f"{tag(f'k{i}', f'v{i}')}," for i in range(10_000))
    parsed = parse_traffic(text)
    assert len(parsed.inputs) == 10_000
    assert parsed.body == "".join(f"v{i}," for i in range(10_000))
    assert len(input_keys(parsed.template)) == 10_000
    assert roundtrip(parsed) == parsed.body


def test_adversarial_unclosed_openings_stay_literal() -> None:
    # Each unclosed opening must not rescan the megabyte tail (that would be quadratic).
    text = '<helicone-prompt-input key="a">' * 10_000 + "x" * 1_000_000 + "<helicone-prompt-static>" * 10_000
    parsed = parse_traffic(text)
    assert parsed.body == parsed.template == text
    many_keys = "<helicone-prompt-input key='" * 10_000 + "y" * 1_000_000
    assert parse_traffic(many_keys).body == many_keys


def test_deep_nesting_and_no_mutation() -> None:
    deep: Any = {"content": f"hi {tag('k', 'v')}"}
    for _ in range(200):
        deep = [deep, {"plain": 1}]
    original = copy.deepcopy(deep)
    parsed = parse_traffic(deep)
    assert deep == original
    assert parsed.inputs == {"k": "v"}
    assert len(parsed.auto_inputs) == 200

    template, auto_inputs, inputs = parsed.template, parsed.auto_inputs, dict(parsed.inputs)
    snapshot = copy.deepcopy((template, auto_inputs, inputs))
    assert roundtrip(parsed) == parsed.body
    assert (template, auto_inputs, inputs) == snapshot


# --- properties -------------------------------------------------------------------------------------------

_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="-"), max_size=12)
_KEY = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8).filter(
    lambda k: '"' not in k or "'" not in k
)
_VALUE = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12).filter(
    lambda v: v == v.strip() and "helicone-" not in v
)


@st.composite
def _traffic(draw: st.DrawFn) -> tuple[list[Any], dict[str, str], list[Any]]:
    """Chat messages whose contents interleave literal text with paired tags; expected body and inputs."""
    values = draw(st.dictionaries(_KEY, _VALUE, min_size=1, max_size=4))
    keys = sorted(values)
    messages: list[Any] = []
    expected: list[Any] = []
    used: dict[str, str] = {}
    for _ in range(draw(st.integers(1, 4))):
        raw, body = "", ""
        for _ in range(draw(st.integers(0, 4))):
            text = draw(_TEXT)
            raw, body = raw + text, body + text
            if draw(st.booleans()):
                key = draw(st.sampled_from(keys))
                quotes = [q for q in "\"'" if q not in key]
                raw += tag(key, values[key], draw(st.sampled_from(quotes)))
                body, used[key] = body + values[key], values[key]
        if draw(st.booleans()):
            raw = static(raw)
        as_parts = draw(st.booleans())
        messages.append({"role": "user", "content": [{"type": "text", "text": raw}] if as_parts else raw})
        expected.append({"role": "user", "content": [{"type": "text", "text": body}] if as_parts else body})
    return messages, used, expected


@settings(max_examples=200, deadline=None)
@given(_traffic())
def test_roundtrip_property(case: tuple[list[Any], dict[str, str], list[Any]]) -> None:
    messages, used, expected = case
    parsed = parse_traffic(messages)
    assert parsed.body == expected
    assert parsed.inputs == used
    assert set(input_keys(parsed.template)) == set(used)
    compiled = compile_template(parsed.template, parsed.inputs, parsed.auto_inputs)
    assert compiled == CompiledPrompt(value=parsed.body, missing=[], unused=[])


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | _TEXT, lambda c: st.lists(c, max_size=3)))
def test_untagged_values_parse_to_themselves(value: Any) -> None:
    parsed = parse_traffic(value)
    assert parsed.body == parsed.template == value
    assert parsed.inputs == {}
    assert parsed.auto_inputs == []


_FRAGMENTS = st.sampled_from(
    [
        "a",
        " ",
        "<",
        ">",
        "<helicone-",
        '<helicone-prompt-input key="a">',
        "<helicone-prompt-input key='b\"'>",
        '<helicone-prompt-input key="">',
        CLOSE,
        "<helicone-prompt-static>",
        "</helicone-prompt-static>",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_FRAGMENTS, max_size=30).map("".join))
def test_fragment_soup(text: str) -> None:
    parsed = parse_traffic(text)
    # Something was stripped from the body exactly when a tag was recognised.
    assert has_prompt_tags(text) == (parsed.body != text) == (len(parsed.body) < len(text))
    # The template pairs its tags as the traffic did: every key it uses has an input, no input is unused.
    assert set(input_keys(parsed.template)) == set(parsed.inputs)
    compiled = compile_template(parsed.template, parsed.inputs, parsed.auto_inputs)
    assert compiled.missing == compiled.unused == []


def test_shape_hash_ignores_key_order_and_auto_inputs_but_not_text() -> None:
    base = {"model": "m", "messages": [auto_input_placeholder(0), {"role": "user", "content": "a"}]}
    reordered = {"messages": [{"content": "a", "role": "user"}], "model": "m"}
    longer = {
        "model": "m",
        "messages": [auto_input_placeholder(0), auto_input_placeholder(1), {"role": "user", "content": "a"}],
    }
    assert shape_hash(base) == shape_hash(reordered) == shape_hash(longer)
    assert shape_hash(base) != shape_hash({**base, "model": "n"})
    assert len(shape_hash(base)) == 64
