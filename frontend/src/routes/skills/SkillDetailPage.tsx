import { useState } from "react";
import { Link, useNavigate } from "react-router";
import { useNumericParam } from "../../lib/params";
import { PageHeader } from "../../components/PageHeader";
import { EmptyState, ErrorState, Loading, QueryView, SkeletonRows } from "../../components/states";
import { useDatasetVersions, type DatasetVersion } from "../../queries/datasets";
import { useSkill } from "../../queries/skills";
import { FORMAT_TEMPLATE, templateLabel } from "./SkillForm";
import { UploadPanel } from "./datasets/UploadPanel";
import { VersionsTable } from "./datasets/VersionsTable";

export function SkillDetailPage() {
  const skillId = useNumericParam("skillId");
  if (skillId === null) return <ErrorState title="Not found" error={new Error("This is not a skill id.")} />;
  return <SkillDetail skillId={skillId} />;
}

function SkillDetail({ skillId }: { skillId: number }) {
  const skill = useSkill(skillId);
  const versions = useDatasetVersions(skillId);

  if (skill.isPending) return <Loading label="Loading skill…" />;
  if (skill.isError)
    return (
      <div className="page">
        <PageHeader title="Skill" crumbs={[{ label: "Skills", to: "/skills" }]} />
        <ErrorState error={skill.error} onRetry={() => void skill.refetch()} />
      </div>
    );
  const { name, description, scorer, scorer_config, teacher_template } = skill.data;

  return (
    <div className="page">
      <PageHeader
        title={name}
        crumbs={[{ label: "Skills", to: "/skills" }]}
        actions={
          <span className="row">
            <span className="badge">scorer: {scorer}</span>
            {Object.keys(scorer_config).length > 0 && <code className="small muted">{JSON.stringify(scorer_config)}</code>}
          </span>
        }
      >
        {description || <span className="faint">No description.</span>}
      </PageHeader>

      <section className="card" aria-labelledby="upload-heading">
        <div className="card-header">
          <h2 id="upload-heading">Upload demonstrations</h2>
          <span className="small muted">Checked before anything is stored · every upload becomes an immutable version</span>
        </div>
        <div className="card-body">
          <UploadPanel skillId={skillId} />
        </div>
      </section>

      <section className="card" aria-labelledby="versions-heading">
        <QueryView query={versions} loading={<SkeletonRows rows={3} columns={6} />}>
          {(list) => <VersionsSection skillId={skillId} versions={list} />}
        </QueryView>
      </section>

      <section className="card" aria-labelledby="template-heading">
        <div className="card-header">
          <h2 id="template-heading">Teacher prompt</h2>
          <span className="badge">{templateLabel(teacher_template)}</span>
        </div>
        <div className="card-body stack">
          <p className="small muted">
            The teacher sees the prompt with the demonstration in context; the student sees the prompt alone.
          </p>
          <pre className="block">{teacher_template ?? FORMAT_TEMPLATE}</pre>
        </div>
      </section>
    </div>
  );
}

function VersionsSection({ skillId, versions }: { skillId: number; versions: DatasetVersion[] }) {
  const [selected, setSelected] = useState<number[]>([]);
  const navigate = useNavigate();

  function toggle(versionId: number) {
    // Keep at most two: picking a third replaces the older pick.
    setSelected((current) =>
      current.includes(versionId) ? current.filter((id) => id !== versionId) : [...current, versionId].slice(-2),
    );
  }

  function openDiff() {
    const [first, second] = selected
      .map((id) => versions.find((version) => version.id === id))
      .filter((version): version is DatasetVersion => version !== undefined)
      .sort((a, b) => a.version - b.version);
    if (first && second) void navigate(`/skills/${skillId}/diff/${first.id}/${second.id}`);
  }

  return (
    <>
      <div className="card-header">
        <h2 id="versions-heading">
          Versions <span className="muted">{versions.length}</span>
        </h2>
        {versions.length >= 2 && (
          <>
            <span className="small muted">{selected.length < 2 ? `Select two versions to compare (${selected.length}/2)` : ""}</span>
            <button type="button" className="btn small" disabled={selected.length !== 2} onClick={openDiff}>
              Compare selected
            </button>
          </>
        )}
      </div>
      {versions.length === 0 ? (
        <EmptyState title="No versions yet">Upload a file above; each upload is kept as a version you can compare and train on.</EmptyState>
      ) : (
        <VersionsTable skillId={skillId} versions={versions} selected={selected} onToggle={toggle} />
      )}
      {versions.length === 1 && (
        <p className="small muted" style={{ padding: "8px 12px" }}>
          Upload a second version to compare them. <Link to={`/skills/${skillId}/versions/${versions[0]!.id}`}>Browse v1's rows</Link>
        </p>
      )}
    </>
  );
}
