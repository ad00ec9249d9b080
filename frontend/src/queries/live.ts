import { useEffect, useRef } from "react";

/**
 * Fetch once more when `live` turns off. A view that polls only while some job runs learns that the
 * job ended from another query; the job's last rows (an evaluation's final skills, a run's last
 * traces) may have landed after this view's last poll, and without this fetch it would keep them
 * out until the page is reloaded.
 */
export function useFetchWhenSettled(refetch: () => unknown, live: boolean): void {
  const wasLive = useRef(live);
  useEffect(() => {
    if (wasLive.current && !live) void refetch();
    wasLive.current = live;
  }, [live, refetch]);
}
