-- CreateTable
CREATE TABLE "BackfillCursor" (
    "tenantId" TEXT NOT NULL,
    "module" TEXT NOT NULL,
    "since" TIMESTAMPTZ(3),
    "page" INTEGER NOT NULL DEFAULT 0,
    "records" INTEGER NOT NULL DEFAULT 0,
    "done" BOOLEAN NOT NULL DEFAULT false,
    "startedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "BackfillCursor_pkey" PRIMARY KEY ("tenantId","module")
);

-- AddForeignKey
ALTER TABLE "BackfillCursor" ADD CONSTRAINT "BackfillCursor_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Tenant"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
