// The template version a campaign pinned when it was created (issue 15, item 2): ingest checks
// the rows against it and every send chunk renders it, so both read it the same way.
import type { ActivityDeps } from './deps';
import type { TemplateRecord, TemplateVersionRecord } from '../src/adapters/dynamo/types';

/**
 * The confirmed version `version` of the template (`template_version` on the campaign's record;
 * absent on campaigns from before versions: 1, the template record itself), or undefined when it
 * is missing, another tenant's, or not confirmed.
 */
export async function pinnedTemplate(
  deps: Pick<ActivityDeps, 'store' | 'templates'>,
  tenantId: string,
  templateId: string,
  version: number | undefined,
): Promise<{ number: number; template: TemplateRecord | TemplateVersionRecord | undefined }> {
  const number = version ?? 1;
  const template =
    number === 1
      ? await deps.store.getTemplate(tenantId, templateId)
      : await deps.templates?.getTemplateVersion(tenantId, templateId, number);
  return { number, template: template?.status === 'READY' ? template : undefined };
}
