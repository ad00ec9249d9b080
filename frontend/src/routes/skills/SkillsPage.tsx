import { useState } from "react";
import { Link, useNavigate } from "react-router";
import { PlusIcon } from "../../components/icons";
import { Modal } from "../../components/Modal";
import { PageHeader } from "../../components/PageHeader";
import { EmptyState, QueryView, SkeletonRows } from "../../components/states";
import { timeAgo } from "../../lib/format";
import { useCreateSkill, useSkills, type Skill } from "../../queries/skills";
import { SkillForm, templateLabel } from "./SkillForm";

export function SkillsPage() {
  const skills = useSkills();
  const [creating, setCreating] = useState(false);
  const create = useCreateSkill();
  const navigate = useNavigate();

  const newButton = (
    <button type="button" className="btn primary" onClick={() => setCreating(true)}>
      <PlusIcon /> New skill
    </button>
  );

  return (
    <div className="page">
      <PageHeader title="Skills" actions={newButton}>
        A skill is a set of demonstrations a model should learn, and the scorer that decides whether an answer is right.
      </PageHeader>
      <div className="card">
        <QueryView query={skills} loading={<SkeletonRows />}>
          {(list) =>
            list.length === 0 ? (
              <EmptyState title="No skills yet" action={newButton}>
                Create a skill, then upload its demonstrations (JSONL, CSV or chat-messages JSON).
              </EmptyState>
            ) : (
              <SkillsTable skills={list} />
            )
          }
        </QueryView>
      </div>
      {creating && (
        <Modal
          title="New skill"
          onClose={() => {
            setCreating(false);
            create.reset();
          }}
        >
          <SkillForm
            pending={create.isPending}
            error={create.error}
            onCancel={() => setCreating(false)}
            onSubmit={(body) =>
              create.mutate(body, {
                onSuccess: (skill) => {
                  setCreating(false);
                  void navigate(`/skills/${skill.id}`);
                },
              })
            }
          />
        </Modal>
      )}
    </div>
  );
}

export function SkillsTable({ skills }: { skills: Skill[] }) {
  return (
    <div className="table-wrap">
      <table className="data">
        <thead>
          <tr>
            <th>Name</th>
            <th>Description</th>
            <th>Scorer</th>
            <th>Teacher prompt</th>
            <th>Created</th>
          </tr>
        </thead>
        <tbody>
          {skills.map((skill) => (
            <tr key={skill.id}>
              <td className="nowrap">
                <Link to={`/skills/${skill.id}`}>{skill.name}</Link>
              </td>
              <td className="clip" title={skill.description}>
                {skill.description || <span className="faint">—</span>}
              </td>
              <td>
                <span className="badge">{skill.scorer}</span>
              </td>
              <td className="muted">{templateLabel(skill.teacher_template)}</td>
              <td className="nowrap muted" title={skill.created_at}>
                {timeAgo(skill.created_at)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
