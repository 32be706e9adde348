"""`build_ui(served, sessions)`: the chat page's layout, and which handler each event calls.

The collection picker on top (shown when the visitor may read another collection than the
default), chat on the left (with example questions), the source panel on the right, settings
(answer backend, passages to read, date range, sources) in an accordion beside the chat, the
upload (shown with a write key) and the indexed articles below them, and a hidden textbox the
citation-click script writes to. The handlers are
`ui.web.handlers.ChatHandlers`; this module only places components and wires events.
"""

from __future__ import annotations

import gradio as gr

from index.loaders import SUFFIXES
from rag.answering.backends import BACKENDS
from ui.api.access import Sessions
from ui.served import Served
from ui.web.conversations import ConversationHandlers
from ui.web.handlers import ARRIVED, NEWEST, ChatHandlers
from ui.web.render import PANEL_EMPTY

EXAMPLES = [
    "What did Hegseth say about 5%?",
    "When will Starmer host Rutte?",
    "What did Emmanuel Macron say about defence spending?",
]


def build_ui(served: Served, sessions: Sessions) -> gr.Blocks:
    settings = served.settings
    on = ChatHandlers(served, sessions)
    kept = ConversationHandlers(on)

    with gr.Blocks(title="News Q&A with citations") as demo:
        turns = gr.State([])
        conversation = gr.State(None)  # the id of the conversation open (kept on the server)
        browser = gr.BrowserState(None, storage_key="news-rag-browser")  # its id, without keys
        with gr.Sidebar(label="Conversations", open=False, elem_id="sidebar"):
            new = gr.Button("New conversation", size="sm", elem_id="new-conversation")
            earlier = gr.Radio([], label="Earlier conversations", elem_id="conversations")
            with gr.Row():
                delete = gr.Button("Delete", size="sm", elem_id="delete-conversation")
                share = gr.Button("Share link", size="sm", elem_id="share-conversation")
            link = gr.Textbox(
                label="Read-only link", visible=False, buttons=["copy"], elem_id="share-link"
            )
        notice = gr.Markdown(elem_id="notice")
        shown = gr.State(None)  # the collection the page shows
        gr.Markdown(
            "## News Q&A with citations\nAsk about the indexed news articles. Every claim "
            "carries a citation **[n]**: click it to read the passage it comes from."
        )
        collection = gr.Dropdown(
            [served.default_name],
            value=served.default_name,
            label="Collection",
            info="the archive asked (those your key may read)",
            elem_id="collection",
            visible=False,  # shown on load when there is a choice
            interactive=True,
        )
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    elem_id="chat",
                    label="Conversation",
                    height=520,
                    examples=[{"text": q} for q in EXAMPLES],
                    placeholder="Ask a question, or pick an example:",
                    feedback_options=("Like", "Dislike"),
                    buttons=["copy"],
                )
                with gr.Row():
                    question = gr.Textbox(
                        elem_id="question",
                        placeholder="Ask about the articles, e.g. What did Hegseth say about 5%?",
                        show_label=False,
                        scale=6,
                        autofocus=True,
                        max_lines=4,
                    )
                    ask = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="ask")
                    clear = gr.Button("Clear", scale=1, min_width=80, elem_id="clear")
            with gr.Column(scale=2):
                gr.Markdown("### Source")
                panel = gr.HTML(PANEL_EMPTY, elem_id="source-panel", js_on_load=None)
                with gr.Accordion("Settings", open=False):
                    backend = gr.Radio(
                        list(BACKENDS),
                        value=settings.llm.backend,
                        label="Answer backend",
                        info="auto: openai if configured, else extractive; local: the GGUF model in models/",
                    )
                    top_k = gr.Slider(
                        1,
                        20,
                        value=settings.retrieval.answer_passages,
                        step=1,
                        label="Passages to read",
                    )
                    # a day typed (YYYY-MM-DD) or picked from the calendar
                    as_of = gr.DateTime(
                        label="As of",
                        include_time=False,
                        type="string",
                        info="later articles are not used; 'this week' in a question means "
                        "the week of this day (empty: today)",
                        elem_id="as-of",
                    )
                    with gr.Row():
                        date_from = gr.DateTime(
                            label="From", include_time=False, type="string", elem_id="date-from"
                        )
                        date_to = gr.DateTime(
                            label="To", include_time=False, type="string", elem_id="date-to"
                        )
                    sources = gr.Dropdown(
                        [],
                        multiselect=True,
                        allow_custom_value=True,
                        label="Sources",
                        info="empty: all sources",
                    )
                with gr.Accordion("Export", open=False, elem_id="export-box"):
                    export = gr.Button(
                        "Export the conversation as Markdown", size="sm", elem_id="export"
                    )
                    exported = gr.Code(
                        language="markdown",
                        label="Markdown (copy it, or download it below)",
                        interactive=False,
                        elem_id="export-md",
                    )
                    download = gr.DownloadButton(
                        "Download .md", visible=False, size="sm", elem_id="download-md"
                    )
                with gr.Accordion("Was the last answer wrong?", open=False, elem_id="correct"):
                    expected = gr.Textbox(
                        label="The answer expected",
                        placeholder="the name, number or sentence the answer should have given",
                        elem_id="expected",
                        info="kept with the question: `rag feedback export` makes it a test",
                    )
                    unsupported = gr.CheckboxGroup(
                        [],
                        label="Citations that do not support their claim",
                        elem_id="unsupported",
                    )
                    send = gr.Button("Send", size="sm", elem_id="send-feedback")
                said = gr.Markdown(elem_id="feedback-said")
                with gr.Accordion(
                    "Add articles", open=False, visible=False, elem_id="add-articles"
                ) as adding:
                    files = gr.File(
                        file_count="multiple",
                        file_types=list(SUFFIXES),
                        label="Files (" + ", ".join(SUFFIXES) + ")",
                        elem_id="upload",
                    )
                    add = gr.Button("Add to the collection", size="sm", elem_id="add")
                    urls = gr.Textbox(
                        label="Pages or feeds to fetch now (one address a line)",
                        lines=2,
                        elem_id="urls",
                    )
                    fetch = gr.Button("Fetch", size="sm", elem_id="fetch")
                    added = gr.Markdown(elem_id="added")
                    gr.Markdown("**Feeds followed** (read again while the server runs)")
                    followed = gr.HTML(elem_id="feeds")
                    with gr.Row():
                        feed_url = gr.Textbox(label="Feed address", scale=3, elem_id="feed-url")
                        feed_every = gr.Number(
                            15, label="every … minutes", minimum=1, scale=1, elem_id="feed-every"
                        )
                    with gr.Row():
                        follow = gr.Button("Follow", size="sm", elem_id="follow")
                        unfollow = gr.Button("Stop following", size="sm", elem_id="unfollow")
                    with gr.Row():
                        remove_id = gr.Textbox(
                            label="Remove the article with id", scale=3, elem_id="remove-id"
                        )
                        remove = gr.Button("Remove", size="sm", scale=1, elem_id="remove")
                with gr.Accordion("Indexed articles", open=False):
                    search = gr.Textbox(
                        label="Search",
                        placeholder="words of the title, a source, a date: AA 2025-06",
                        elem_id="article-search",
                    )
                    with gr.Row():
                        shelf_source = gr.Dropdown(
                            [],
                            value=None,
                            label="Source",
                            info="empty: all",
                            allow_custom_value=True,
                            elem_id="list-source",
                        )
                        order = gr.Radio(
                            [NEWEST, ARRIVED], value=NEWEST, label="Order", elem_id="list-order"
                        )
                    with gr.Row():
                        shelf_from = gr.DateTime(
                            label="Dated from",
                            include_time=False,
                            type="string",
                            elem_id="list-from",
                        )
                        shelf_to = gr.DateTime(
                            label="to", include_time=False, type="string", elem_id="list-to"
                        )
                    articles = gr.HTML("<p>Listing the articles…</p>")  # filled on load
                    refresh = gr.Button("Refresh", size="sm")
        cite_ref = gr.Textbox(visible="hidden", elem_id="cite-ref")

        inputs = [question, turns, collection, backend, top_k, date_from, date_to, sources, as_of]
        outputs = [chatbot, turns, question]
        numbers = {"fn": on.citation_numbers, "inputs": turns, "outputs": unsupported}
        asked = [
            question.submit(on.respond, inputs, outputs, api_visibility="private"),
            ask.click(on.respond, inputs, outputs, api_visibility="private"),
            chatbot.example_select(on.pick_example, None, question, api_visibility="private").then(
                on.respond, inputs, outputs, api_visibility="private"
            ),
        ]
        remember = {
            "fn": kept.remember,
            "inputs": [turns, conversation, collection, browser],
            "outputs": [conversation, earlier, browser],
        }
        for event in asked:  # the form that marks citations offers the last answer's
            event.then(**numbers, api_visibility="private").then(
                **remember, api_visibility="private"
            )
        cleared = [chatbot, turns, question, panel]
        chatbot.like(on.rate, [turns, collection], said, api_visibility="private")
        export.click(on.export, [turns, collection], [exported, download], api_visibility="private")
        send.click(
            on.correct,
            [turns, collection, expected, unsupported],
            [said, expected, unsupported],
            api_visibility="private",
        )

        clear.click(on.reset, None, cleared, api_visibility="private").then(
            lambda: (None, None), None, [conversation, earlier], api_visibility="private"
        )
        chatbot.clear(on.reset, None, cleared, api_visibility="private").then(
            lambda: (None, None), None, [conversation, earlier], api_visibility="private"
        )
        new.click(on.reset, None, cleared, api_visibility="private").then(
            lambda: (None, None, ""),
            None,
            [conversation, earlier, notice],
            api_visibility="private",
        )
        earlier.input(
            kept.reopen,
            [earlier, browser],
            [chatbot, turns, conversation, panel, notice],
            api_visibility="private",
        )
        delete.click(
            kept.delete,
            [conversation, collection, browser],
            [earlier, chatbot, turns, conversation, panel, notice],
            api_visibility="private",
        )
        share.click(kept.share, [conversation, browser], link, api_visibility="private")
        cite_ref.change(
            on.open_citation, [cite_ref, turns, collection], panel, api_visibility="private"
        )
        listing = [articles, sources, shelf_source]
        shelf = {
            "fn": on.search_articles,
            "inputs": [collection, search, shelf_source, shelf_from, shelf_to, order],
            "outputs": listing,
            "api_visibility": "private",
        }
        gr.on(
            [
                refresh.click,
                search.submit,
                shelf_source.input,
                shelf_from.change,
                shelf_to.change,
                order.input,
            ],
            **shelf,
        )
        # what changes the collection's articles shows the list again, its filters kept
        fetch.click(on.add_urls, [urls, collection], [added, urls], api_visibility="private").then(
            **shelf
        )
        follow.click(
            on.follow,
            [feed_url, feed_every, collection],
            [added, followed],
            api_visibility="private",
        ).then(**shelf)
        unfollow.click(
            on.unfollow, [feed_url, collection], [added, followed], api_visibility="private"
        )
        remove.click(
            on.remove, [remove_id, collection], [added, remove_id], api_visibility="private"
        ).then(**shelf)
        add.click(on.add_files, [files, collection], [added, files], api_visibility="private").then(
            **shelf
        )
        switched = [adding, *cleared, shown]
        collection.input(on.switched, [collection, shown], switched, api_visibility="private").then(
            kept.refresh, [collection, browser], [earlier, conversation], api_visibility="private"
        ).then(on.feeds, collection, followed, api_visibility="private").then(**shelf)
        demo.load(on.start, None, [collection, *switched], api_visibility="private").then(
            kept.start,
            [browser, collection, conversation],
            [browser, earlier, chatbot, turns, conversation, notice, collection, shown],
            api_visibility="private",
        ).then(on.feeds, collection, followed, api_visibility="private").then(**shelf)
    return demo
