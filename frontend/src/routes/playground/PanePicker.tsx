import { useEffect, useState } from "react";
import { useCheckpoint, useTrack, useTracks, type CheckpointNode } from "../../queries/tracks";
import { useSkillNames } from "../tracks/TrackDetailPage";
import type { Pane } from "./conversation";

/**
 * Track + checkpoint selects for one pane. The checkpoint lives in the URL (deep links); the track
 * follows it, and choosing a track selects its head. Pane A with no checkpoint takes the first
 * track's head, so the page is usable at once.
 */
export function PanePicker({
  pane,
  checkpointId,
  onChange,
  autoSelect,
}: {
  pane: Pane;
  checkpointId: number | null;
  onChange: (checkpointId: number | null) => void;
  autoSelect: boolean;
}) {
  const tracks = useTracks();
  const checkpoint = useCheckpoint(checkpointId);
  const skillName = useSkillNames();
  const [chosenTrackId, setChosenTrackId] = useState<number | null>(null);
  const trackId = chosenTrackId ?? checkpoint.data?.track_id ?? (autoSelect ? (tracks.data?.[0]?.id ?? null) : null);
  const track = useTrack(trackId ?? 0);
  const name = `Pane ${pane.toUpperCase()}`;

  useEffect(() => {
    // A track chosen (or taken by default) without a checkpoint yet: its head is the natural pick.
    if (checkpointId === null && track.data?.head_checkpoint_id && (autoSelect || chosenTrackId !== null)) {
      onChange(track.data.head_checkpoint_id);
    }
  }, [checkpointId, track.data?.head_checkpoint_id]); // eslint-disable-line react-hooks/exhaustive-deps

  const label = (node: CheckpointNode) =>
    `#${node.id} · ${node.kind === "base" ? "base model" : skillName(node.skill_id)}${node.method ? ` (${node.method})` : ""}${
      node.id === track.data?.head_checkpoint_id ? " · head" : ""
    }`;
  // Newest first: the head and recent skills are what people try.
  const checkpoints = [...(track.data?.checkpoints ?? [])].sort((x, y) => y.id - x.id);

  return (
    <div className="row pane-picker">
      <select
        aria-label={`${name} track`}
        value={trackId ?? ""}
        onChange={(event) => {
          const next = Number(event.target.value) || null;
          setChosenTrackId(next);
          onChange(null); // the effect above selects the new track's head once it loads
        }}
      >
        <option value="">{tracks.isPending ? "loading tracks…" : "choose a track…"}</option>
        {(tracks.data ?? []).map((t) => (
          <option key={t.id} value={t.id}>
            {t.name} · {t.base_model}
          </option>
        ))}
      </select>
      <select
        aria-label={`${name} checkpoint`}
        value={checkpointId ?? ""}
        disabled={!track.data}
        onChange={(event) => onChange(Number(event.target.value) || null)}
      >
        <option value="">{track.isFetching && !track.data ? "loading…" : "choose a checkpoint…"}</option>
        {checkpoints.map((node) => (
          <option key={node.id} value={node.id}>
            {label(node)}
          </option>
        ))}
      </select>
    </div>
  );
}
