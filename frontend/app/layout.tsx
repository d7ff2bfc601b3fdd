import type { Metadata, Viewport } from 'next';
import Link from 'next/link';
import type { ReactNode } from 'react';

import { SignOut } from '@/components/sign-out';
import { SiteNav } from '@/components/site-nav';
import { currentSession } from '@/lib/current-user';

import './globals.css';

export const metadata: Metadata = {
  title: { default: 'Cartrita', template: '%s · Cartrita' },
  description: 'Cartrita: AI assistant and system status',
};

export const viewport: Viewport = {
  themeColor: [
    { media: '(prefers-color-scheme: light)', color: '#f6f7f9' },
    { media: '(prefers-color-scheme: dark)', color: '#12141a' },
  ],
};

// Every page is rendered per request: the session decides the header, and the CSP nonce
// (proxy.ts) can only be put on the script tags of a page rendered for that response.
export default async function RootLayout({ children }: { children: ReactNode }) {
  const session = await currentSession();
  return (
    <html lang="en">
      <body>
        <header className="site-header">
          <div className="container site-header-inner">
            <Link href="/" className="brand">
              Cartrita
            </Link>
            {session.kind !== 'signed-out' && (
              <div className="site-header-end">
                <SiteNav />
                <SignOut username={session.kind === 'signed-in' ? session.user.username : null} />
              </div>
            )}
          </div>
        </header>
        {children}
      </body>
    </html>
  );
}
