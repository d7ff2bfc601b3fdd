'use client';

import Link from 'next/link';
import { usePathname } from 'next/navigation';

const LINKS = [
  { href: '/', label: 'Status' },
  { href: '/chat', label: 'Chat' },
  { href: '/memory', label: 'Memory' },
] as const;

/** Primary navigation; the current page is marked with aria-current. */
export function SiteNav() {
  const pathname = usePathname();
  return (
    <nav aria-label="Primary" className="site-nav">
      {LINKS.map((link) => {
        const current = link.href === '/' ? pathname === '/' : pathname.startsWith(link.href);
        return (
          <Link
            key={link.href}
            href={link.href}
            className="nav-link"
            aria-current={current ? 'page' : undefined}
            data-testid={`nav-${link.label.toLowerCase()}`}
          >
            {link.label}
          </Link>
        );
      })}
    </nav>
  );
}
