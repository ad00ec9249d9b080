/**
 * The Playground's conversation: user turns are shared by both panes, each pane keeps its own
 * answers. Pure state (a reducer) so the page stays thin and the rules are tested without a server.
 */

export type Pane = "a" | "b";
export const PANES: Pane[] = ["a", "b"];

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** One pane's answer to one user turn, from the moment it is asked until the job ends. */
export type Answer =
  | { status: "sending"; startedAt: number }
  | { status: "pending"; jobId: number; startedAt: number }
  | { status: "done"; text: string; completionTokens: number | null; seconds: number | null; jobId: number }
  | { status: "error"; message: string; jobId: number | null };

export interface Turn {
  id: number;
  user: string;
  answers: Partial<Record<Pane, Answer>>;
  /** The checkpoint each pane asked: a pane's picker may change later, the record should not. */
  checkpoints: Partial<Record<Pane, number>>;
  /** On a track of one adapter per skill, the adapters a pane turned on over the base (its checkpoint is the base). */
  adapters?: Partial<Record<Pane, AdapterSet>>;
}

/** A track of one adapter per skill asked with exactly these adapter checkpoints on (none: the base alone). */
export interface AdapterSet {
  trackId: number;
  adapterIds: number[];
}

export interface Conversation {
  turns: Turn[];
  nextId: number;
}

export const emptyConversation: Conversation = { turns: [], nextId: 1 };

export type Action =
  | { type: "ask"; text: string; checkpoints: Partial<Record<Pane, number>>; adapters?: Partial<Record<Pane, AdapterSet>>; now: number }
  | { type: "queued"; turnId: number; pane: Pane; jobId: number }
  | { type: "answered"; turnId: number; pane: Pane; jobId: number; text: string; completionTokens: number | null; seconds: number | null }
  | { type: "failed"; turnId: number; pane: Pane; message: string; jobId: number | null }
  | { type: "retry"; turnId: number; pane: Pane; now: number }
  | { type: "clear" };

function setAnswer(state: Conversation, turnId: number, pane: Pane, answer: (previous: Answer | undefined) => Answer | undefined) {
  let changed = false;
  const turns = state.turns.map((turn) => {
    if (turn.id !== turnId) return turn;
    const next = answer(turn.answers[pane]);
    if (next === turn.answers[pane]) return turn;
    changed = true;
    return { ...turn, answers: { ...turn.answers, [pane]: next } };
  });
  // An action that changes nothing returns the same state, so React skips the render.
  return changed ? { ...state, turns } : state;
}

export function conversationReducer(state: Conversation, action: Action): Conversation {
  switch (action.type) {
    case "ask": {
      const answers: Partial<Record<Pane, Answer>> = {};
      for (const pane of Object.keys(action.checkpoints) as Pane[]) answers[pane] = { status: "sending", startedAt: action.now };
      const turn: Turn = { id: state.nextId, user: action.text, answers, checkpoints: action.checkpoints };
      if (action.adapters) turn.adapters = action.adapters;
      return { turns: [...state.turns, turn], nextId: state.nextId + 1 };
    }
    case "queued":
      // Only a turn still being sent learns its job: a cleared conversation ignores late replies.
      return setAnswer(state, action.turnId, action.pane, (previous) =>
        previous?.status === "sending" ? { status: "pending", jobId: action.jobId, startedAt: previous.startedAt } : previous,
      );
    case "answered":
      return setAnswer(state, action.turnId, action.pane, (previous) =>
        previous?.status === "pending" && previous.jobId === action.jobId
          ? { status: "done", text: action.text, completionTokens: action.completionTokens, seconds: action.seconds, jobId: action.jobId }
          : previous,
      );
    case "failed":
      return setAnswer(state, action.turnId, action.pane, (previous) =>
        previous && (previous.status === "sending" || previous.status === "pending")
          ? { status: "error", message: action.message, jobId: action.jobId }
          : previous,
      );
    case "retry":
      return setAnswer(state, action.turnId, action.pane, (previous) =>
        previous?.status === "error" ? { status: "sending", startedAt: action.now } : previous,
      );
    case "clear":
      return { turns: [], nextId: state.nextId };
  }
}

/** What a turn's pane asked, for its bubble: `#3`, or `base + #5, #4` on a track of adapters. */
export function targetLabel(turn: Turn, pane: Pane): string {
  const set = turn.adapters?.[pane];
  if (set) return set.adapterIds.length ? `base + ${set.adapterIds.map((id) => `#${id}`).join(", ")}` : "base alone";
  return turn.checkpoints[pane] !== undefined ? `#${turn.checkpoints[pane]}` : "—";
}

/** Adapter ids in a URL parameter (`5,4`; empty: the base alone; absent: null, a single checkpoint). */
export function parseAdapterIds(value: string | null): number[] | null {
  if (value === null) return null;
  return value
    .split(",")
    .map(Number)
    .filter((id) => Number.isInteger(id) && id > 0);
}

/** True while any answer is still on its way: the composer waits, so turns stay in order. */
export function isBusy(state: Conversation): boolean {
  return state.turns.some((turn) => Object.values(turn.answers).some((a) => a.status === "sending" || a.status === "pending"));
}

/**
 * What a pane's checkpoint is asked for a turn: the system prompt, then every earlier turn this pane
 * answered (its own answers, never the other pane's), then the turn's user message. Earlier turns the
 * pane has no answer for (it failed, or the pane was opened later) are left out, so the messages
 * alternate user/assistant and end with the user's, as the server requires.
 */
export function messagesFor(state: Conversation, pane: Pane, turnId: number, systemPrompt = ""): ChatMessage[] {
  const messages: ChatMessage[] = [];
  if (systemPrompt.trim()) messages.push({ role: "system", content: systemPrompt.trim() });
  for (const turn of state.turns) {
    if (turn.id === turnId) {
      messages.push({ role: "user", content: turn.user });
      return messages;
    }
    const answer = turn.answers[pane];
    if (answer?.status === "done") {
      messages.push({ role: "user", content: turn.user }, { role: "assistant", content: answer.text });
    }
  }
  throw new Error(`turn ${turnId} is not in the conversation`);
}
