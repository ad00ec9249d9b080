import { useEffect, useState } from "react";
import { useTrackAdapters, type SkillAdapter } from "../../queries/adapters";
import { useCheckpoint, useTrack, useTracks, type CheckpointNode } from "../../queries/tracks";
import { useSkillNames } from "../tracks/TrackDetailPage";
import type { Pane } from "./conversation";

/**
 * One skill's adapter set to `adapterId` (null: off) in an adapter set, the others kept; the ids come
 * back in the skills' order, so a set reads (and links) the same however it was ticked.
 */
export function withSkillAdapter(skills: SkillAdapter[], adapterIds: number[], skillId: number, adapterId: number | null): number[] {
  return skills.flatMap((skill) => {
    if (skill.skill_id === skillId) return adapterId === null ? [] : [adapterId];
    const chosen = skill.versions.find((version) => adapterIds.includes(version.checkpoint_id));
    return chosen ? [chosen.checkpoint_id] : [];
  });
}

/** The track's active set: each skill's active adapter, as the track serves it. */
export function activeSet(skillAdapters: Record<string, number> | null | undefined): number[] {
  return Object.entries(skillAdapters ?? {})
    .sort(([x], [y]) => Number(x) - Number(y))
    .map(([, id]) => id);
}

/**
 * Track + checkpoint selects for one pane. The checkpoint lives in the URL (deep links); the track
 * follows it, and choosing a track selects its head. Pane A with no checkpoint takes the first
 * track's head, so the page is usable at once.
 *
 * On a track of one adapter per skill the pane asks the base with a set of adapters on instead: one
 * tick (and version) per skill, kept in the URL as `<pane>_adapters=5,4` next to the base checkpoint.
 * Choosing such a track starts from its active set; a link to one of its adapters asks that adapter alone.
 */
export function PanePicker({
  pane,
  checkpointId,
  adapterIds,
  onChange,
  autoSelect,
}: {
  pane: Pane;
  checkpointId: number | null;
  /** null: a single checkpoint; else the adapters on over the track's base. */
  adapterIds: number[] | null;
  onChange: (checkpointId: number | null, adapterIds?: number[] | null) => void;
  autoSelect: boolean;
}) {
  const tracks = useTracks();
  const checkpoint = useCheckpoint(checkpointId);
  const skillName = useSkillNames();
  const [chosenTrackId, setChosenTrackId] = useState<number | null>(null);
  const trackId = chosenTrackId ?? checkpoint.data?.track_id ?? (autoSelect ? (tracks.data?.[0]?.id ?? null) : null);
  const track = useTrack(trackId ?? 0);
  const name = `Pane ${pane.toUpperCase()}`;
  const perSkill = track.data ? track.data.skill_adapters != null : false;
  const baseId = track.data?.checkpoints.find((node) => node.parent_id === null)?.id ?? null;
  const adapters = useTrackAdapters(perSkill ? (trackId ?? 0) : 0);

  useEffect(() => {
    if (!track.data || track.data.id !== trackId) return;
    if (perSkill && baseId !== null) {
      // A track of adapters: a new pick starts from the active set, a link to one adapter asks it alone.
      if (checkpointId === null && (autoSelect || chosenTrackId !== null)) onChange(baseId, activeSet(track.data.skill_adapters));
      else if (checkpointId !== null && adapterIds === null)
        onChange(baseId, checkpointId === baseId ? activeSet(track.data.skill_adapters) : [checkpointId]);
      return;
    }
    // A track chosen (or taken by default) without a checkpoint yet: its head is the natural pick.
    if (checkpointId === null && track.data.head_checkpoint_id && (autoSelect || chosenTrackId !== null)) {
      onChange(track.data.head_checkpoint_id);
    } else if (checkpointId !== null && adapterIds !== null) {
      onChange(checkpointId, null); // adapters only mean something on a track of adapters
    }
  }, [checkpointId, adapterIds === null, track.data?.id, track.data?.head_checkpoint_id, perSkill, baseId]); // eslint-disable-line react-hooks/exhaustive-deps

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
      {perSkill ? (
        <AdapterSetPicker
          name={name}
          skills={adapters.data?.skills ?? []}
          loading={adapters.isPending}
          adapterIds={adapterIds ?? []}
          onChange={(ids) => onChange(baseId, ids)}
        />
      ) : (
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
      )}
    </div>
  );
}

/** One tick and one version per skill: the adapters this pane turns on over the track's base. */
function AdapterSetPicker({
  name,
  skills,
  loading,
  adapterIds,
  onChange,
}: {
  name: string;
  skills: SkillAdapter[];
  loading: boolean;
  adapterIds: number[];
  onChange: (adapterIds: number[]) => void;
}) {
  if (loading) return <span className="small muted">loading adapters…</span>;
  if (skills.length === 0) return <span className="small muted">base model alone (no adapters yet)</span>;
  return (
    <fieldset className="row small adapter-set" aria-label={`${name} adapters`}>
      <legend className="sr-only">{name} adapters</legend>
      {skills.map((skill) => {
        const chosen = skill.versions.find((version) => adapterIds.includes(version.checkpoint_id))?.checkpoint_id ?? null;
        const shown = chosen ?? skill.active_checkpoint_id ?? skill.versions[0]?.checkpoint_id ?? null;
        return (
          <span key={skill.skill_id} className="row">
            <label className="row">
              <input
                type="checkbox"
                aria-label={`${name} ${skill.skill_name} on`}
                checked={chosen !== null}
                disabled={shown === null}
                onChange={(event) => onChange(withSkillAdapter(skills, adapterIds, skill.skill_id, event.target.checked ? shown : null))}
              />
              {skill.skill_name}
            </label>
            <select
              aria-label={`${name} ${skill.skill_name} adapter`}
              value={shown ?? ""}
              onChange={(event) => onChange(withSkillAdapter(skills, adapterIds, skill.skill_id, Number(event.target.value) || null))}
            >
              {skill.versions.map((version) => (
                <option key={version.checkpoint_id} value={version.checkpoint_id}>
                  #{version.checkpoint_id}
                  {version.checkpoint_id === skill.active_checkpoint_id ? " · active" : ""}
                </option>
              ))}
            </select>
          </span>
        );
      })}
      {adapterIds.length === 0 && <span className="muted">base alone</span>}
    </fieldset>
  );
}
