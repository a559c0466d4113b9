-- DropIndex
DROP INDEX "ParkedEvent_tenantId_createdAt_idx";
