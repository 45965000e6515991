"""The estimate's rules for the shapes the recorded calls showed to need one (each rule's
evidence is in docs/estimation.md): every expectation is built from the token counts of
the parts, never a copied result, so a rule that stops applying fails here."""
import json
import math

from otel_llm_cost._estimate_openai import Generated, count_request, estimate_openai, render_functions
from otel_llm_cost.tokens import count_tokens

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"title": "City", "type": "string"}},
                   "required": ["city"]}}}
ASK = {"role": "user", "content": "Weather in Paris and Rome?"}


def _call(name, arguments, call_id):
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _reply(**message):
    return Generated().response({"object": "chat.completion", "choices": [{"index": 0, "message": message}]})


def test_parallel_earlier_calls_cost_more_when_the_request_defines_no_tools():
    calls = [_call("get_weather", '{"city": "Paris"}', "a"), _call("get_weather", '{"city": "Rome"}', "b")]
    messages = [ASK, {"role": "assistant", "tool_calls": calls},
                {"role": "tool", "tool_call_id": "a", "content": "sunny"},
                {"role": "tool", "tool_call_id": "b", "content": "rain"}]
    with_tools, _ = count_request("gpt-4o-mini", {"messages": messages, "tools": [WEATHER]})
    without, _ = count_request("gpt-4o-mini", {"messages": messages})
    tools_block = count_request("gpt-4o-mini", {"messages": [ASK], "tools": [WEATHER]})[0] \
        - count_request("gpt-4o-mini", {"messages": [ASK]})[0]
    assert without == with_tools - tools_block + 5


def test_pretty_printed_earlier_arguments_count_compact_and_make_a_floor():
    pretty = json.dumps({"city": "Paris", "days": [1, 2]}, indent=2)
    compact = json.dumps({"city": "Paris", "days": [1, 2]}, separators=(",", ":"))
    messages = [ASK, {"role": "assistant", "tool_calls": [_call("get_weather", pretty, "a")]},
                {"role": "tool", "tool_call_id": "a", "content": "sunny"}]
    same_as_compact = [ASK, {"role": "assistant", "tool_calls": [_call("get_weather", compact, "a")]},
                       {"role": "tool", "tool_call_id": "a", "content": "sunny"}]
    total, floor = count_request("gpt-4o", {"messages": messages, "tools": [WEATHER]})
    assert floor and count_tokens(pretty, "gpt-4o") > count_tokens(compact, "gpt-4o")
    assert (total, False) == count_request("gpt-4o", {"messages": same_as_compact, "tools": [WEATHER]})


def test_legacy_gpt35_snapshots_with_tools_are_floors_and_count_only_what_was_generated():
    arguments = json.dumps({"city": "Paris"}, indent=2)
    kwargs = {"messages": [ASK], "tools": [WEATHER]}
    usage = estimate_openai("gpt-3.5-turbo-0613", kwargs, _reply(tool_calls=[_call("get_weather", arguments, "a")]))
    assert usage.lower_bound
    surely = count_tokens("get_weather", "gpt-3.5-turbo") + count_tokens('{"city":"Paris"}', "gpt-3.5-turbo")
    assert usage.output_tokens == math.floor(surely * 0.95)
    # Without tools the legacy snapshot's framing is the cookbook's, and not a floor.
    assert not estimate_openai("gpt-3.5-turbo-0613", {"messages": [ASK]}, _reply(content="Hi")).lower_bound
    assert not estimate_openai("gpt-3.5-turbo-0125", kwargs, _reply(content="Hi")).lower_bound


def test_first_generation_renders_no_parameter_titles_and_gpt4_32k_is_of_it():
    with_titles = count_tokens(render_functions([WEATHER["function"]]), "gpt-4")
    without = count_tokens(render_functions([WEATHER["function"]], titles=False), "gpt-4")
    assert without < with_titles
    base = count_request("gpt-4-0613", {"messages": [ASK]})[0]
    assert count_request("gpt-4-0613", {"messages": [ASK], "tools": [WEATHER]})[0] == base + without + 9
    assert count_request("gpt-4o", {"messages": [ASK], "tools": [WEATHER]})[0] \
        == count_request("gpt-4o", {"messages": [ASK]})[0] + count_tokens(render_functions([WEATHER["function"]]),
                                                                         "gpt-4o") + 9
    call = _reply(tool_calls=[_call("get_weather", '{"city": "Paris"}', "a")])
    parts = count_tokens("get_weather", "gpt-4") + count_tokens('{"city": "Paris"}', "gpt-4")
    assert call.tokens("gpt-4-32k", {"messages": [ASK], "tools": [WEATHER]}) == parts + 4
    assert call.tokens("gpt-4-turbo", {"messages": [ASK], "tools": [WEATHER]}) == parts + 7


def test_a_text_reply_to_a_request_with_stop_sequences_gets_half_the_shortest_one():
    text = "Action: search\nAction Input: paris\n"
    reply = _reply(content=text)
    stops = ["\nObservation:", "\n\tObservation:"]
    shortest = min(count_tokens(s, "gpt-4o") for s in stops)
    assert 2 <= shortest <= 4
    usage = estimate_openai("gpt-4o", {"messages": [ASK], "stop": stops}, reply)
    assert not usage.lower_bound and usage.output_tokens == count_tokens(text, "gpt-4o") + shortest // 2
    # A tool call is not cut by a stop sequence: nothing added.
    call = _reply(tool_calls=[_call("get_weather", '{"city": "Paris"}', "a")])
    kwargs = {"messages": [ASK], "tools": [WEATHER]}
    assert call.tokens("gpt-4o", {**kwargs, "stop": stops}) == call.tokens("gpt-4o", kwargs)
    # A stop sequence too long for the middle to be within 2 tokens of either figure: a floor.
    long_stop = {"messages": [ASK], "stop": ["<|end of the answer section|>"]}
    assert count_tokens(long_stop["stop"][0], "gpt-4o") > 4
    assert estimate_openai("gpt-4o", long_stop, reply).lower_bound


def test_a_text_beside_a_call_and_each_json_document_of_a_structured_reply_are_framed():
    kwargs = {"messages": [ASK], "tools": [WEATHER]}
    call = _call("get_weather", '{"city": "Paris"}', "a")
    both = _reply(content="Let me check.", tool_calls=[call]).tokens("gpt-4o", kwargs)
    assert both == _reply(tool_calls=[call]).tokens("gpt-4o", kwargs) + count_tokens("Let me check.", "gpt-4o") + 1
    schema = {"type": "json_schema", "json_schema": {"name": "W", "strict": True, "schema": {
        "type": "object", "properties": {"c": {"type": "string"}}, "required": ["c"], "additionalProperties": False}}}
    one = '{"c":"x"}'
    kwargs = {"messages": [ASK], "tools": [WEATHER], "response_format": schema}
    assert _reply(content=one).tokens("gpt-4o", kwargs) == count_tokens(one, "gpt-4o") + 5
    assert _reply(content=f"{one}\n{one}").tokens("gpt-4o", kwargs) == count_tokens(f"{one}\n{one}", "gpt-4o") + 10


def test_additional_properties_on_a_node_that_is_not_an_object_is_not_billed():
    def request(string_node):
        return {"messages": [ASK], "response_format": {"type": "json_schema", "json_schema": {
            "name": "W", "strict": True, "schema": {"type": "object", "properties": {"c": string_node},
                                                    "required": ["c"], "additionalProperties": False}}}}
    assert count_request("gpt-4o", request({"type": "string", "additionalProperties": False})) \
        == count_request("gpt-4o", request({"type": "string"}))


def test_a_tool_results_name_is_billed_once_when_the_request_has_tools():
    call = _call("get_weather", '{"city":"Paris"}', "a")

    def messages(**result):
        return [ASK, {"role": "assistant", "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "a", "content": "sunny", **result}]
    named, unnamed = messages(name="get_weather"), messages()
    # With tools the result is rendered under the called function's name, once.
    assert count_request("gpt-4o", {"messages": named, "tools": [WEATHER]}) \
        == count_request("gpt-4o", {"messages": unnamed, "tools": [WEATHER]})
    # Without tools the name is billed as a message's name is.
    assert count_request("gpt-4o", {"messages": named})[0] \
        == count_request("gpt-4o", {"messages": unnamed})[0] + count_tokens("get_weather", "gpt-4o") + 1


def test_one_call_with_respaced_arguments_was_unwrapped_from_a_parallel_call_and_is_a_floor():
    kwargs = {"messages": [ASK], "tools": [WEATHER]}
    spaced = json.dumps({"city": "Paris", "days": 2})
    compact = json.dumps({"city": "Paris", "days": 2}, separators=(",", ":"))
    usage = estimate_openai("gpt-4o", kwargs, _reply(tool_calls=[_call("get_weather", spaced, "a")]))
    wrapper = '{"tool_uses":[{"recipient_name":"functions.get_weather","parameters":' + compact + "}]}"
    assert usage.lower_bound
    assert usage.output_tokens == math.floor(count_tokens(wrapper, "gpt-4o") * 0.95)
    # As the model writes it (compact), or forced by name (never wrapped): an estimate.
    assert not estimate_openai("gpt-4o", kwargs, _reply(tool_calls=[_call("get_weather", compact, "a")])).lower_bound
    forced = {**kwargs, "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}
    assert not estimate_openai("gpt-4o", forced, _reply(tool_calls=[_call("get_weather", spaced, "a")])).lower_bound
    # Several calls in one reply are always re-spaced: the parallel rule, not a floor.
    two = [_call("get_weather", spaced, "a"), _call("get_weather", json.dumps({"city": "Rome"}), "b")]
    assert not estimate_openai("gpt-4o", kwargs, _reply(tool_calls=two)).lower_bound


def test_tool_choice_required_with_several_choices_is_a_floor():
    kwargs = {"messages": [ASK], "tools": [WEATHER], "tool_choice": "required"}
    assert count_request("gpt-4o", {**kwargs, "n": 2})[1]
    assert not count_request("gpt-4o", kwargs)[1]
    assert not count_request("gpt-4o", {**kwargs, "tool_choice": "auto", "n": 2})[1]


def test_the_indentation_after_a_line_break_in_a_schema_string_is_not_billed():
    def request(description):
        return {"messages": [ASK], "response_format": {"type": "json_schema", "json_schema": {
            "name": "W", "strict": True, "schema": {"type": "object", "description": description,
                                                    "properties": {"c": {"type": "string"}},
                                                    "required": ["c"], "additionalProperties": False}}}}
    indented, flush = "Weather.\n\n    Attributes:\n        c: the city", "Weather.\n\nAttributes:\nc: the city"
    assert count_tokens(indented, "gpt-4o") > count_tokens(flush, "gpt-4o")
    assert count_request("gpt-4o", request(indented)) == count_request("gpt-4o", request(flush))
