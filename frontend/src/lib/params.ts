import { useParams } from "react-router";

/** A positive integer route parameter, or null when the URL holds something else. */
export function useNumericParam(name: string): number | null {
  const value = useParams()[name];
  const number = Number(value);
  return value !== undefined && Number.isInteger(number) && number > 0 ? number : null;
}
