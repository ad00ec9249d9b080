import { Link } from "react-router";
import { PageHeader } from "../components/PageHeader";
import { EmptyState } from "../components/states";

/**
 * The Playground: chatting with a checkpoint needs a generation endpoint on the server (the API
 * never loads a model itself; a worker would answer). Until the server offers one, this page says
 * so instead of pretending.
 */
export function PlaygroundPage() {
  return (
    <div className="page">
      <PageHeader title="Playground">Chat with any checkpoint, or with two side by side on the same prompt.</PageHeader>
      <div className="card">
        <EmptyState
          title="Not available on this server yet"
          action={
            <Link className="btn" to="/tracks">
              Browse checkpoints
            </Link>
          }
        >
          Chatting needs the server to generate with a checkpoint, which this version of the API does not offer. Meanwhile, every
          run's rollouts and every evaluation's sample outputs show what a checkpoint answers.
        </EmptyState>
      </div>
    </div>
  );
}
