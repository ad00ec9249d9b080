import { lazy, Suspense } from "react";
import { Route, Routes } from "react-router";
import { Layout } from "./components/Layout";
import { Loading } from "./components/states";
import { AccountPage } from "./routes/account/AccountPage";
import { LoginPage } from "./routes/auth/LoginPage";
import { NotFoundPage } from "./routes/NotFoundPage";
import { RegressionPage } from "./routes/regression/RegressionPage";
import { PlaygroundPage } from "./routes/PlaygroundPage";
import { DiffPage } from "./routes/skills/DiffPage";
import { SkillDetailPage } from "./routes/skills/SkillDetailPage";
import { SkillsPage } from "./routes/skills/SkillsPage";
import { VersionPage } from "./routes/skills/VersionPage";
import { TrackDetailPage } from "./routes/tracks/TrackDetailPage";
import { TracksPage } from "./routes/tracks/TracksPage";

// The charting library is most of the bundle: load the pages that draw charts on demand.
const ComparePage = lazy(() => import("./routes/compare/ComparePage").then((module) => ({ default: module.ComparePage })));
const JobPage = lazy(() => import("./routes/jobs/JobPage").then((module) => ({ default: module.JobPage })));

/** Every page has a URL of its own, so a run, a checkpoint or a token can be linked. */
export function AppRoutes() {
  return (
    <Routes>
      <Route path="login" element={<LoginPage />} />
      <Route element={<Layout />}>
        <Route index element={<SkillsPage />} />
        <Route path="skills" element={<SkillsPage />} />
        <Route path="skills/:skillId" element={<SkillDetailPage />} />
        <Route path="skills/:skillId/versions/:versionId" element={<VersionPage />} />
        <Route path="skills/:skillId/diff/:fromId/:toId" element={<DiffPage />} />
        <Route path="tracks" element={<TracksPage />} />
        <Route path="tracks/:trackId" element={<TrackDetailPage />} />
        <Route path="tracks/:trackId/regression" element={<RegressionPage />} />
        <Route path="jobs/:jobId" element={<Lazy page={<JobPage />} />} />
        <Route path="compare" element={<Lazy page={<ComparePage />} />} />
        <Route path="playground" element={<PlaygroundPage />} />
        <Route path="account" element={<AccountPage />} />
        <Route path="*" element={<NotFoundPage />} />
      </Route>
    </Routes>
  );
}

function Lazy({ page }: { page: React.ReactNode }) {
  return <Suspense fallback={<Loading label="Loading page…" />}>{page}</Suspense>;
}
