import { useQuery, type QueryKey, type UseQueryOptions, type UseQueryResult } from "@tanstack/react-query";
import { useEffect, useRef } from "react";

const LIVE_POLL_MS = 5_000;

/**
 * A query that polls while `live` (some job it depends on is queued or running) and fetches once
 * more when `live` turns off. The view learns that the job ended from another query; the job's last
 * rows (an evaluation's final skills, a run's last traces) may have landed after this view's last
 * poll, and without the final fetch it would keep them out until the page is reloaded. Owning both
 * here keeps a live view from taking the interval without the final fetch.
 */
export function useLiveQuery<TQueryFnData, TError = Error, TData = TQueryFnData, TQueryKey extends QueryKey = QueryKey>(
  options: Omit<UseQueryOptions<TQueryFnData, TError, TData, TQueryKey>, "refetchInterval">,
  live: boolean,
): UseQueryResult<TData, TError> {
  const query = useQuery({ ...options, refetchInterval: live ? LIVE_POLL_MS : false });
  const { refetch } = query;
  const wasLive = useRef(live);
  useEffect(() => {
    if (wasLive.current && !live) void refetch();
    wasLive.current = live;
  }, [live, refetch]);
  return query;
}
