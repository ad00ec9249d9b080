import { Route, Routes } from "react-router";
import { Layout } from "./components/Layout";
import { NotFoundPage } from "./routes/NotFoundPage";
import { SkillDetailPage } from "./routes/skills/SkillDetailPage";
import { SkillsPage } from "./routes/skills/SkillsPage";
import { VersionPage } from "./routes/skills/VersionPage";
import { DiffPage } from "./routes/skills/DiffPage";
import { PlaceholderPage } from "./routes/PlaceholderPage";

/** Every page has a URL of its own, so a run, a checkpoint or a token can be linked. */
export function AppRoutes() {
  return (
    <Routes>
      <Route element={<Layout />}>
        <Route index element={<SkillsPage />} />
        <Route path="skills" element={<SkillsPage />} />
        <Route path="skills/:skillId" element={<SkillDetailPage />} />
        <Route path="skills/:skillId/versions/:versionId" element={<VersionPage />} />
        <Route path="skills/:skillId/diff/:fromId/:toId" element={<DiffPage />} />
        <Route path="tracks/*" element={<PlaceholderPage title="Tracks" />} />
        <Route path="compare" element={<PlaceholderPage title="Compare" />} />
        <Route path="playground" element={<PlaceholderPage title="Playground" />} />
        <Route path="*" element={<NotFoundPage />} />
      </Route>
    </Routes>
  );
}
