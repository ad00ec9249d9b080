/** Tables for what an upload contains: its rows, its errors (with line numbers) and its flags. */
import type { FieldError } from "../../../client/api";
import type { Example, ReportFlag } from "../../../queries/datasets";
import { formatCount } from "../../../lib/format";

type Message = Example["prompt"][number];

/** A prompt as chat turns: the system turn dimmed, the last user turn in full. */
export function ChatPrompt({ messages }: { messages: Message[] }) {
  return (
    <div className="chat-prompt">
      {messages.map((message, index) => (
        <div key={index} className={`turn turn-${message.role}`}>
          <span className="role">{message.role}</span>
          <span className="clamp">{message.content}</span>
        </div>
      ))}
    </div>
  );
}

export function ExamplesTable({ rows, caption }: { rows: Example[]; caption?: string }) {
  const hasContext = rows.some((row) => row.context);
  const hasReference = rows.some((row) => row.reference);
  return (
    <div className="table-wrap">
      <table className="data examples">
        {caption && <caption className="sr-only">{caption}</caption>}
        <thead>
          <tr>
            <th className="num col-line">Line</th>
            <th>Split</th>
            <th>Prompt</th>
            <th>Demonstration</th>
            {hasContext && <th>Context</th>}
            {hasReference && <th>Reference</th>}
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={`${row.index}-${row.line}`}>
              <td className="num mono muted">{row.line}</td>
              <td>
                <span className={row.split === "eval" ? "badge info" : "badge"}>{row.split}</span>
                {row.flags && row.flags.length > 0 && (
                  <span className="badge warn" title={row.flags.map((flag) => `${flag.kind}: ${flag.match}`).join("\n")}>
                    flagged
                  </span>
                )}
              </td>
              <td className="cell-text">
                <ChatPrompt messages={row.prompt} />
              </td>
              <td className="cell-text">
                <span className="clamp">{row.demonstration}</span>
              </td>
              {hasContext && (
                <td className="cell-text">
                  <span className="clamp">{row.context ?? ""}</span>
                </td>
              )}
              {hasReference && <td className="cell-text mono">{row.reference ?? ""}</td>}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function ErrorTable({ errors, total }: { errors: FieldError[]; total: number }) {
  return (
    <div className="stack" style={{ gap: 6 }}>
      <div className="table-wrap">
        <table className="data errors" aria-label="Validation errors">
          <thead>
            <tr>
              <th className="num col-line">Line</th>
              <th>Field</th>
              <th>Problem</th>
            </tr>
          </thead>
          <tbody>
            {errors.map((error, index) => (
              <tr key={index}>
                <td className="num mono">{error.line ?? "file"}</td>
                <td className="mono">{error.field ?? <span className="faint">—</span>}</td>
                <td>{error.message}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {total > errors.length && (
        <p className="small muted">
          Showing the first {formatCount(errors.length)} of {formatCount(total)} errors.
        </p>
      )}
    </div>
  );
}

const FLAG_LABELS: Record<string, string> = {
  instruction_override: "overrides instructions",
  role_override: "changes the model's role",
  prompt_extraction: "asks for the prompt",
  chat_markup: "contains chat markup",
  teacher_template: "contains the teacher template",
};

export function FlagTable({ flags, total }: { flags: ReportFlag[]; total: number }) {
  return (
    <div className="stack" style={{ gap: 6 }}>
      <div className="table-wrap">
        <table className="data" aria-label="Flagged demonstrations">
          <thead>
            <tr>
              <th className="num col-line">Line</th>
              <th>Field</th>
              <th>Why</th>
              <th>Passage</th>
            </tr>
          </thead>
          <tbody>
            {flags.map((flag, index) => (
              <tr key={index}>
                <td className="num mono">{flag.line}</td>
                <td className="mono">{flag.field}</td>
                <td>{FLAG_LABELS[flag.kind] ?? flag.kind}</td>
                <td className="mono cell-text">“{flag.match}”</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {total > flags.length && (
        <p className="small muted">
          Showing the first {formatCount(flags.length)} of {formatCount(total)} flags.
        </p>
      )}
    </div>
  );
}
