// The areas documented in files of their own, in the order their tags appear.
import type { ApiArea } from './common';
import { accessArea } from './access';
import { analyticsArea } from './campaigns';
import { exportsArea } from './exports';
import { identitiesArea } from './identities';
import { recipientsArea } from './recipients';
import { suppressionListsArea } from './suppression-lists';
import { templatesArea } from './templates';
import { topicsArea } from './topics';
import { reputationArea } from './reputation';
import { webhooksArea } from './webhooks';

export const AREAS: ApiArea[] = [
  identitiesArea,
  accessArea,
  recipientsArea,
  exportsArea,
  suppressionListsArea,
  topicsArea,
  templatesArea,
  analyticsArea,
  reputationArea,
  webhooksArea,
];
