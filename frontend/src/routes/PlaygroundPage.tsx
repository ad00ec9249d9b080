import { useReducer, useRef, useState, type KeyboardEvent } from "react";
import { useSearchParams } from "react-router";
import { PageHeader } from "../components/PageHeader";
import { errorMessage } from "../components/states";
import { useGenerate, type GenerationTarget } from "../queries/playground";
import { useCheckpoint } from "../queries/tracks";
import { AnswerView } from "./playground/AnswerView";
import {
  conversationReducer,
  emptyConversation,
  isBusy,
  messagesFor,
  parseAdapterIds,
  targetLabel,
  type AdapterSet,
  type Conversation,
  type Pane,
} from "./playground/conversation";
import { PanePicker } from "./playground/PanePicker";

const isMac = typeof navigator !== "undefined" && /Mac|iPhone|iPad/.test(navigator.platform);

/**
 * Chat with a checkpoint, or two side by side on the same prompts (`?a=<checkpoint>&b=<checkpoint>`).
 * On a track of one adapter per skill a pane asks the base with a set of adapters on
 * (`?a=<base>&a_adapters=5,4&b=<base>&b_adapters=5`), so two adapter sets compare side by side.
 */
export function PlaygroundPage() {
  const [search, setSearch] = useSearchParams();
  const a = Number(search.get("a")) || null;
  const b = Number(search.get("b")) || null;
  const comparing = search.has("b");
  const adaptersOf: Record<Pane, number[] | null> = {
    a: parseAdapterIds(search.get("a_adapters")),
    b: comparing ? parseAdapterIds(search.get("b_adapters")) : null,
  };
  const [conversation, dispatch] = useReducer(conversationReducer, emptyConversation);
  // The latest conversation for callbacks that run after a network round trip.
  const latest = useRef<Conversation>(conversation);
  latest.current = conversation;
  const [draft, setDraft] = useState("");
  const [systemPrompt, setSystemPrompt] = useState("");
  const [maxNewTokens, setMaxNewTokens] = useState(256);
  const [temperature, setTemperature] = useState(0);
  const generate = useGenerate();

  const checkpointOf: Record<Pane, number | null> = { a, b: comparing ? b : null };
  // The track of each pane's checkpoint: an adapter set is asked of its track.
  const trackOf: Record<Pane, number | null> = {
    a: useCheckpoint(checkpointOf.a).data?.track_id ?? null,
    b: useCheckpoint(checkpointOf.b).data?.track_id ?? null,
  };
  const adapterSetOf = (pane: Pane): AdapterSet | null => {
    const trackId = trackOf[pane];
    const adapterIds = adaptersOf[pane];
    return adapterIds !== null && trackId !== null ? { trackId, adapterIds } : null;
  };
  const activePanes = (["a", "b"] as Pane[]).filter(
    (pane) => checkpointOf[pane] !== null && (adaptersOf[pane] === null || trackOf[pane] !== null),
  );
  const busy = isBusy(conversation);
  const settingsValid = maxNewTokens >= 1 && maxNewTokens <= 4096 && temperature >= 0 && temperature <= 2;
  const canSend = draft.trim() !== "" && activePanes.length > 0 && !busy && settingsValid;

  /** A pane's checkpoint and, on a track of adapters, its adapter set (none: a single checkpoint). */
  const setParam = (pane: Pane, checkpointId: number | null, adapterIds?: number[] | null) => {
    setSearch(
      (previous) => {
        const next = new URLSearchParams(previous);
        if (checkpointId !== null) next.set(pane, String(checkpointId));
        else if (pane === "b" && next.has("b")) next.set("b", "");
        else next.delete(pane);
        if (adapterIds == null) next.delete(`${pane}_adapters`);
        else next.set(`${pane}_adapters`, adapterIds.join(","));
        return next;
      },
      { replace: true },
    );
  };

  /** Sends one pane's view of the conversation for a turn, after `state` already holds the turn. */
  const ask = (state: Conversation, pane: Pane, turnId: number) => {
    // A retry asks what the turn was sent to, even if the picker changed since.
    const turn = state.turns.find((t) => t.id === turnId);
    const checkpointId = turn?.checkpoints[pane];
    if (checkpointId === undefined) return;
    const set = turn?.adapters?.[pane];
    const target: GenerationTarget = set ? { trackId: set.trackId, adapterIds: set.adapterIds } : { checkpointId };
    const body = { messages: messagesFor(state, pane, turnId, systemPrompt), max_new_tokens: maxNewTokens, temperature };
    // mutateAsync, not mutate's callbacks: those fire for the latest call only, and two panes ask at once.
    generate.mutateAsync({ target, body }).then(
      (job) => dispatch({ type: "queued", turnId, pane, jobId: job.id }),
      (error: unknown) => dispatch({ type: "failed", turnId, pane, message: errorMessage(error), jobId: null }),
    );
  };

  const send = () => {
    if (!canSend) return;
    const checkpoints: Partial<Record<Pane, number>> = {};
    const adapters: Partial<Record<Pane, AdapterSet>> = {};
    for (const pane of activePanes) {
      checkpoints[pane] = checkpointOf[pane]!;
      const set = adapterSetOf(pane);
      if (set) adapters[pane] = set;
    }
    const action = { type: "ask" as const, text: draft.trim(), checkpoints, adapters, now: Date.now() };
    const next = conversationReducer(latest.current, action);
    dispatch(action);
    const turnId = next.turns[next.turns.length - 1]!.id;
    for (const pane of activePanes) ask(next, pane, turnId);
    setDraft("");
  };

  const retry = (pane: Pane, turnId: number) => {
    const action = { type: "retry" as const, turnId, pane, now: Date.now() };
    const next = conversationReducer(latest.current, action);
    dispatch(action);
    ask(next, pane, turnId);
  };

  const onComposerKey = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      send();
    }
  };

  const panes: Pane[] = comparing ? ["a", "b"] : ["a"];

  return (
    <div className="page">
      <PageHeader
        title="Playground"
        actions={
          <div className="row">
            {!comparing ? (
              <button type="button" className="btn" onClick={() => setParam("b", a, adaptersOf.a)}>
                Compare side by side
              </button>
            ) : (
              <button
                type="button"
                className="btn"
                onClick={() =>
                  setSearch(
                    (previous) => {
                      const next = new URLSearchParams(previous);
                      next.delete("b");
                      next.delete("b_adapters");
                      return next;
                    },
                    { replace: true },
                  )
                }
              >
                Close pane B
              </button>
            )}
            <button type="button" className="btn" onClick={() => dispatch({ type: "clear" })} disabled={conversation.turns.length === 0}>
              Clear
            </button>
          </div>
        }
      >
        Chat with any checkpoint, or with two side by side on the same prompts. Each answer is a short job on the worker; the first
        turn on a checkpoint loads it. On a track of one adapter per skill, tick the adapters each pane turns on over the base.
      </PageHeader>

      <div className={`playground-panes${comparing ? " two" : ""}`}>
        {panes.map((pane) => (
          <section key={pane} className="card playground-pane" aria-label={`Pane ${pane.toUpperCase()}`}>
            <div className="card-header">
              <h2>{pane.toUpperCase()}</h2>
              <PanePicker
                pane={pane}
                checkpointId={checkpointOf[pane]}
                adapterIds={adaptersOf[pane]}
                onChange={(id, adapterIds) => setParam(pane, id, adapterIds)}
                autoSelect={pane === "a"}
              />
            </div>
            <div className="card-body playground-log" aria-live="polite">
              {conversation.turns.length === 0 ? (
                <p className="muted">{checkpointOf[pane] === null ? "Choose a checkpoint above." : "Ask something below."}</p>
              ) : (
                conversation.turns.map((turn) => {
                  const answer = turn.answers[pane];
                  return (
                    <div key={turn.id} className="exchange">
                      <div className="bubble bubble-user">
                        <span className="role">you</span>
                        <p>{turn.user}</p>
                      </div>
                      <div className="bubble bubble-model" data-testid={`answer-${pane}`}>
                        <span className="role" title="the checkpoint (or base and adapters) asked">
                          {targetLabel(turn, pane)}
                        </span>
                        {answer ? (
                          <AnswerView
                            answer={answer}
                            onAnswered={(jobId, result) => dispatch({ type: "answered", turnId: turn.id, pane, jobId, ...result })}
                            onFailed={(jobId, message) => dispatch({ type: "failed", turnId: turn.id, pane, jobId, message })}
                            onRetry={() => retry(pane, turn.id)}
                          />
                        ) : (
                          <p className="muted small">not asked (this pane was not open)</p>
                        )}
                      </div>
                    </div>
                  );
                })
              )}
            </div>
          </section>
        ))}
      </div>

      <form
        className="card card-body composer"
        onSubmit={(event) => {
          event.preventDefault();
          send();
        }}
      >
        <label htmlFor="playground-message" className="sr-only">
          Message
        </label>
        <textarea
          id="playground-message"
          rows={3}
          value={draft}
          placeholder={`Message ${activePanes.length === 2 ? "both checkpoints" : "the checkpoint"}… (${isMac ? "⌘" : "Ctrl"}+Enter sends)`}
          onChange={(event) => setDraft(event.target.value)}
          onKeyDown={onComposerKey}
        />
        <div className="row composer-settings">
          <label className="row small">
            Max new tokens
            <input
              type="number"
              min={1}
              max={4096}
              value={maxNewTokens}
              onChange={(event) => setMaxNewTokens(Number(event.target.value))}
              aria-invalid={maxNewTokens < 1 || maxNewTokens > 4096 || undefined}
            />
          </label>
          <label className="row small">
            Temperature
            <input
              type="number"
              min={0}
              max={2}
              step={0.1}
              value={temperature}
              onChange={(event) => setTemperature(Number(event.target.value))}
              aria-invalid={temperature < 0 || temperature > 2 || undefined}
            />
            <span className="muted">{temperature === 0 ? "greedy" : "sampled"}</span>
          </label>
          <details className="small">
            <summary>System prompt</summary>
            <textarea aria-label="System prompt" rows={2} value={systemPrompt} onChange={(event) => setSystemPrompt(event.target.value)} />
          </details>
          <span className="spacer" />
          <button type="submit" className="btn primary" disabled={!canSend}>
            {busy ? "Answering…" : activePanes.length === 2 ? "Send to both" : "Send"}
          </button>
        </div>
      </form>
    </div>
  );
}
