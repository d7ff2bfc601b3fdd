'use client';

import { useState, type FormEvent } from 'react';

import { describeApiError, requestJson } from '@/lib/api-client';
import type { MemoryCreated, MemorySearchResult } from '@/lib/api-types';
import { formatScore, scorePercent, sortResults } from '@/lib/memory';

const RESULT_COUNT = 5;

type Status = { kind: 'idle' } | { kind: 'busy' } | { kind: 'ok'; text: string } | { kind: 'error'; text: string };

function StatusLine({ status, testId }: { status: Status; testId: string }) {
  if (status.kind === 'ok') {
    return (
      <p className="form-status ok" role="status" data-testid={testId}>
        {status.text}
      </p>
    );
  }
  if (status.kind === 'error') {
    return (
      <p className="form-status inline-error" role="alert" data-testid="memory-error">
        {status.text}
      </p>
    );
  }
  return null;
}

/** Add memories and search them semantically (pgvector cosine similarity). */
export function Memory() {
  const [content, setContent] = useState('');
  const [addStatus, setAddStatus] = useState<Status>({ kind: 'idle' });
  const [query, setQuery] = useState('');
  const [searchStatus, setSearchStatus] = useState<Status>({ kind: 'idle' });
  const [results, setResults] = useState<MemorySearchResult[] | null>(null);
  const [searchedFor, setSearchedFor] = useState('');

  const add = async (event: FormEvent) => {
    event.preventDefault();
    const text = content.trim();
    if (text === '' || addStatus.kind === 'busy') return;
    setAddStatus({ kind: 'busy' });
    const result = await requestJson<MemoryCreated>('/api/memory', { method: 'POST', body: { content: text } });
    if (result.ok) {
      setContent('');
      setAddStatus({ kind: 'ok', text: `Saved (${result.data.count} memory, id ${result.data.ids[0] ?? 'unknown'}).` });
    } else {
      setAddStatus({ kind: 'error', text: `Could not save the memory: ${describeApiError(result)}` });
    }
  };

  const search = async (event: FormEvent) => {
    event.preventDefault();
    const text = query.trim();
    if (text === '' || searchStatus.kind === 'busy') return;
    setSearchStatus({ kind: 'busy' });
    const result = await requestJson<{ results: MemorySearchResult[] }>('/api/memory/search', {
      method: 'POST',
      body: { query: text, k: RESULT_COUNT },
    });
    if (result.ok) {
      setResults(sortResults(Array.isArray(result.data.results) ? result.data.results : []));
      setSearchedFor(text);
      setSearchStatus({ kind: 'idle' });
    } else {
      setSearchStatus({ kind: 'error', text: `Search failed: ${describeApiError(result)}` });
    }
  };

  return (
    <div className="memory-layout">
      <section className="panel" aria-labelledby="memory-add-heading">
        <h2 id="memory-add-heading">Add a memory</h2>
        <form className="stack-form" onSubmit={add}>
          <label htmlFor="memory-input" className="visually-hidden">
            Memory
          </label>
          <textarea
            id="memory-input"
            className="input"
            rows={3}
            placeholder="Something Cartrita should remember…"
            value={content}
            onChange={(event) => setContent(event.target.value)}
            maxLength={32_000}
            data-testid="memory-input"
          />
          <div className="form-row">
            <button type="submit" className="button" disabled={addStatus.kind === 'busy' || content.trim() === ''} data-testid="memory-add">
              {addStatus.kind === 'busy' ? 'Saving…' : 'Add memory'}
            </button>
          </div>
          <StatusLine status={addStatus} testId="memory-added" />
        </form>
      </section>

      <section className="panel" aria-labelledby="memory-search-heading">
        <h2 id="memory-search-heading">Semantic search</h2>
        <form className="search-form" onSubmit={search} role="search">
          <label htmlFor="memory-search-input" className="visually-hidden">
            Search memories
          </label>
          <input
            id="memory-search-input"
            className="input"
            type="search"
            placeholder="What do you remember about…"
            value={query}
            onChange={(event) => setQuery(event.target.value)}
            maxLength={4000}
            data-testid="memory-search-input"
          />
          <button type="submit" className="button" disabled={searchStatus.kind === 'busy' || query.trim() === ''} data-testid="memory-search">
            {searchStatus.kind === 'busy' ? 'Searching…' : 'Search'}
          </button>
        </form>
        <StatusLine status={searchStatus} testId="memory-search-status" />
        {results !== null && (
          <>
            <p className="meta">
              {results.length === 0 ? 'No memories match' : `Top ${results.length} for`} “{searchedFor}” · score = cosine similarity (1 = identical)
            </p>
            <ol className="memory-results" data-testid="memory-results">
              {results.map((result) => (
                <li key={result.id} className="memory-result" data-testid="memory-result" data-memory-id={result.id} data-score={result.score}>
                  <div className="memory-result-head">
                    <span className="score" data-testid="memory-score">
                      score {formatScore(result.score)}
                    </span>
                    <span className="score-bar" aria-hidden="true">
                      <span style={{ width: `${scorePercent(result.score)}%` }} />
                    </span>
                  </div>
                  <p className="memory-content">{result.content}</p>
                </li>
              ))}
            </ol>
          </>
        )}
      </section>
    </div>
  );
}
