import type { Metadata } from 'next';
import { redirect } from 'next/navigation';

import { LoginForm } from '@/components/login-form';
import { currentSession } from '@/lib/current-user';
import { safeNext } from '@/lib/login-path';

export const dynamic = 'force-dynamic';

export const metadata: Metadata = { title: 'Sign in' };

export default async function LoginPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const params = await searchParams;
  const next = safeNext(typeof params.next === 'string' ? params.next : null);
  // Already signed in: straight back.
  if ((await currentSession()).kind === 'signed-in') redirect(next);

  return (
    <main className="container narrow">
      <h1>Sign in</h1>
      <p className="lead">Sign in with your Cartrita account to chat and to see your memories.</p>
      <LoginForm next={next} />
    </main>
  );
}
