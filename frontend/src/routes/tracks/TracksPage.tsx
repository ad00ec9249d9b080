import { useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router";
import { ApiError } from "../../client/api";
import { Field } from "../../components/Field";
import { PlusIcon } from "../../components/icons";
import { Modal } from "../../components/Modal";
import { PageHeader } from "../../components/PageHeader";
import { EmptyState, QueryView, SkeletonRows } from "../../components/states";
import { timeAgo } from "../../lib/format";
import { BASE_MODELS, useCreateTrack, useTracks, type TrackCreate } from "../../queries/tracks";

export function TracksPage() {
  const tracks = useTracks();
  const [creating, setCreating] = useState(false);
  const create = useCreateTrack();
  const navigate = useNavigate();
  const newButton = (
    <button type="button" className="btn primary" onClick={() => setCreating(true)}>
      <PlusIcon /> New track
    </button>
  );
  return (
    <div className="page">
      <PageHeader title="Tracks" actions={newButton}>
        A track is one model learning skills in order. Each finished skill leaves a checkpoint; the head is where the next skill starts.
      </PageHeader>
      <div className="card">
        <QueryView query={tracks} loading={<SkeletonRows />}>
          {(list) =>
            list.length === 0 ? (
              <EmptyState title="No tracks yet" action={newButton}>
                Create a track on a base model, then queue skills on it.
              </EmptyState>
            ) : (
              <div className="table-wrap">
                <table className="data">
                  <thead>
                    <tr>
                      <th>Name</th>
                      <th>Base model</th>
                      <th>Head</th>
                      <th>Created</th>
                      <th />
                    </tr>
                  </thead>
                  <tbody>
                    {list.map((track) => (
                      <tr key={track.id}>
                        <td>
                          <Link to={`/tracks/${track.id}`}>{track.name}</Link>
                        </td>
                        <td className="mono">{track.base_model}</td>
                        <td className="mono muted">{track.head_checkpoint_id ? `#${track.head_checkpoint_id}` : "—"}</td>
                        <td className="muted nowrap">{timeAgo(track.created_at)}</td>
                        <td className="nowrap">
                          <Link to={`/tracks/${track.id}/regression`}>Regression</Link>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )
          }
        </QueryView>
      </div>
      {creating && (
        <Modal title="New track" onClose={() => (setCreating(false), create.reset())}>
          <TrackForm
            pending={create.isPending}
            error={create.error}
            onCancel={() => setCreating(false)}
            onSubmit={(body) => create.mutate(body, { onSuccess: (track) => void navigate(`/tracks/${track.id}`) })}
          />
        </Modal>
      )}
    </div>
  );
}

function TrackForm({
  onSubmit,
  onCancel,
  pending,
  error,
}: {
  onSubmit: (body: TrackCreate) => void;
  onCancel: () => void;
  pending: boolean;
  error: unknown;
}) {
  const [name, setName] = useState("");
  const [baseModel, setBaseModel] = useState("smollm2-135m");
  const [adapterPerSkill, setAdapterPerSkill] = useState(false);
  const apiError = error instanceof ApiError ? error : null;
  function submit(event: FormEvent) {
    event.preventDefault();
    onSubmit({ name: name.trim(), base_model: baseModel.trim(), ...(adapterPerSkill ? { adapter_per_skill: true } : {}) });
  }
  return (
    <form className="stack" onSubmit={submit} aria-label="New track">
      <Field label="Name" error={apiError?.status === 409 ? apiError.message : undefined}>
        <input value={name} onChange={(event) => setName(event.target.value)} required placeholder="e.g. assistant-v2" />
      </Field>
      <Field
        label="Base model"
        hint={BASE_MODELS.find((model) => model.value === baseModel)?.hint ?? "a Hugging Face id (org/name) or a folder under an allowed model root"}
      >
        <input value={baseModel} onChange={(event) => setBaseModel(event.target.value)} list="base-models" className="mono" required />
      </Field>
      <datalist id="base-models">
        {BASE_MODELS.map((model) => (
          <option key={model.value} value={model.value} />
        ))}
      </datalist>
      <label className="row small">
        <input type="checkbox" checked={adapterPerSkill} onChange={(event) => setAdapterPerSkill(event.target.checked)} />
        One LoRA adapter per skill (each skill trains its own adapter from the base; skills roll back one at a time)
      </label>
      {apiError && apiError.status !== 409 && (
        <div className="notice bad" role="alert">
          {apiError.message}
        </div>
      )}
      <div className="form-actions">
        <button type="button" className="btn" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="btn primary" disabled={pending || !name.trim()}>
          {pending ? "Creating…" : "Create track"}
        </button>
      </div>
    </form>
  );
}
