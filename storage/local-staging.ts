/**
 * Local-disk staging (the embedded default): keys are files under one root folder, worked on in place. Several
 * workers can share it when they see the same folder (one machine, or a shared volume).
 */
import { LocalBlobStore } from './local-blob-store';
import { BlobStaging } from './staging';

export class LocalStaging extends BlobStaging {
  /** @param root the staging folder (`staging.dir`). */
  constructor(readonly root: string) {
    super(new LocalBlobStore(root), root);
  }
}
