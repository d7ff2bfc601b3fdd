// Pure helpers of the memory page.

import type { MemorySearchResult } from '@/lib/api-types';

/** "0.873": similarity score with three decimals (cosine similarity, 1 = identical). */
export function formatScore(score: number): string {
  return Number.isFinite(score) ? score.toFixed(3) : 'n/a';
}

/** Results best first (the orchestrator already sorts them; do not rely on it). */
export function sortResults(results: MemorySearchResult[]): MemorySearchResult[] {
  return [...results].sort((a, b) => b.score - a.score);
}

/** Width of the score bar, 0–100 %. */
export function scorePercent(score: number): number {
  return Number.isFinite(score) ? Math.round(Math.min(1, Math.max(0, score)) * 100) : 0;
}
