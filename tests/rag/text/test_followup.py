"""rag.followup: follow-up questions made standalone, tested as the pure function it is."""

from __future__ import annotations

from rag.text.followup import rewrite


def test_follow_ups_are_rewritten_for_retrieval() -> None:
    """(question answered, query retrieved with) for each kind of follow-up."""
    hegseth = [
        {"role": "user", "content": "What did Hegseth say about 5%?"},
        {"role": "assistant", "content": "He said there was almost near consensus [1]."},
    ]
    asked, query = rewrite("What did he say about the UK?", hegseth)
    assert asked == query == "What did Hegseth say about the UK?"
    asked, query = rewrite("And the UK?", hegseth)
    assert asked == query == "And the UK? (following up on: What did Hegseth say about 5%?)"
    # "that attack" points back without a name: searched with the earlier question beside it,
    # answered as asked
    doha = [{"role": "user", "content": "What did the talks condemn?"}]
    asked, query = rewrite("How many were killed in that attack?", doha)
    assert asked == "How many were killed in that attack?"
    assert query == asked + " (following up on: What did the talks condemn?)"
    # a question that stands on its own is left alone, and no history means no rewriting
    assert rewrite("When did Rutte visit London?", doha) == ("When did Rutte visit London?",) * 2
    # names nothing of its own: about what the conversation was about
    core = [{"role": "user", "content": "What compromise has Rutte proposed?"}]
    asked, query = rewrite("By when must the core part be met?", core)
    assert asked == "By when must the core part be met?"
    assert query == asked + " (following up on: What compromise has Rutte proposed?)"
    assert rewrite("What did he say?", None) == ("What did he say?",) * 2


def test_pronouns_take_the_last_person_named_and_keep_possessives() -> None:
    history = [{"role": "user", "content": "What did Emmanuel Macron say about Nato?"}]
    asked, _ = rewrite("What did his minister say?", history)
    assert asked == "What did Emmanuel Macron's minister say?"
    # assistant turns never supply the person
    assistant_only = [{"role": "assistant", "content": "Keir Starmer said so [1]."}]
    assert rewrite("What did he add?", assistant_only) == ("What did he add?",) * 2
